"""What the core API returns to hosts: frozen records, turned into JSON by the one converter."""

from __future__ import annotations

from typing import Any

import attrs

from machete_core.domain.records import Endpoint
from machete_core.domain.spec import UiRoute
from machete_core.state.views import OperationRecord, ReleaseRecord


@attrs.frozen
class ToolView:
    id: int
    name: str
    #: pending, building, running, stopped, failed or unknown.
    status: str
    #: healthy or unhealthy while running; None otherwise or when not probed.
    health: str | None
    #: The tool's builder setting (None: the installation's default).
    builder: str | None
    reason: str | None
    source_url: str
    source_ref: str | None
    enabled: bool
    auto_start: bool
    port: int
    #: The health path; None: the connect check (any answer but a 5xx on the port).
    health_check: str | None
    description: str | None
    version: str | None
    category: str
    release: int | None
    commit: str | None
    image: str | None
    instance_id: str | None
    url: str | None
    created_at: float
    updated_at: float
    #: The runtime of the live release (else the tool's choice or the default).
    runtime: str = "docker"
    #: Copies of each release that run.
    replicas: int = 1
    #: Times the engine restarted the live instance after it exited.
    restart_count: int = 0
    #: What the operator set for the tool (``--port``, ``machete set``), only the set fields.
    overrides: dict[str, Any] = attrs.field(factory=dict)
    #: The manifest's ``ui`` block: an icon (text, usually one emoji), a colour and links.
    icon: str = "🔧"
    color: str = "#ff6b35"
    routes: tuple[UiRoute, ...] = ()
    #: Who may open the tool's pages: public, members or granted.
    access: str = "members"


@attrs.frozen
class ToolCard:
    """One tool as the dashboard lists it: the view, its last operation and the time of its
    last health check."""

    view: ToolView
    last_operation: OperationRecord | None
    health_checked_at: float | None


@attrs.frozen
class Route:
    """Where the router sends a tool's requests."""

    tool: str
    release: int
    endpoint: Endpoint
    strip_prefix: bool
    #: Seconds to wait for the tool's answer; None: the installation's default.
    read_timeout: float | None = None
    #: Who may open the tool (public, members, granted): the proxy's first question.
    access: str = "members"


@attrs.frozen
class HealthTarget:
    """One tool the health monitor probes (``base_url`` None: its endpoint is unknown now)."""

    tool_id: int
    tool: str
    base_url: str | None
    path: str | None
    problem: str | None = None


@attrs.frozen
class ProbeResult:
    """What one probe of the health monitor found."""

    target: HealthTarget
    healthy: bool
    detail: str | None = None


@attrs.frozen
class ConfigView:
    key: str
    #: ``***`` for secrets.
    value: str
    secret: bool
    #: When and by whom (``kind:name``) the value was set last.
    updated_at: float | None = None
    updated_by: str | None = None


def to_data(value: Any) -> Any:
    """Unstructure any record (or list of records) to JSON-ready data."""
    from machete_core.manifest.converter import converter

    if isinstance(value, OperationRecord):
        data = converter().unstructure(value)
        data["done"] = value.done
        # Sealed credentials stay in the database; outputs only say that there are some.
        if data["params"].pop("credentials", None) is not None:
            data["params"]["credentials"] = "***"
        data["params"].pop("holder", None)
        return data
    if isinstance(value, list):
        return [to_data(v) for v in value]
    return converter().unstructure(value)


__all__ = ["OperationRecord", "ReleaseRecord", "ToolView", "to_data"]
