"""The normalized tool specification every manifest format is loaded into."""

from __future__ import annotations

from typing import Any

import attrs

CATEGORIES = (
    "automation",
    "devops",
    "testing",
    "analysis",
    "monitoring",
    "security",
    "collaboration",
    "other",
)
DEFAULT_PORT = 8080
#: The health path of the original's template; a tool that declares none gets the connect
#: check (its port answers HTTP with anything but a 5xx).
DEFAULT_HEALTH_PATH = "/health"


@attrs.frozen
class VolumeSpec:
    """``host:container[:ro|:rw]``. A relative host path lives in the tool's data directory."""

    host: str
    container: str
    read_only: bool = False

    def __str__(self) -> str:
        return f"{self.host}:{self.container}:{'ro' if self.read_only else 'rw'}"


@attrs.frozen
class UiRoute:
    path: str
    title: str
    description: str | None = None


def _default_routes() -> tuple[UiRoute, ...]:
    return (UiRoute(path="/", title="Dashboard"),)


@attrs.frozen
class UiSpec:
    icon: str = "🔧"
    color: str = "#ff6b35"
    routes: tuple[UiRoute, ...] = attrs.field(factory=_default_routes)


@attrs.frozen
class ResourcesSpec:
    memory: str | None = None
    cpu: str | None = None


@attrs.frozen
class FilesystemPermissions:
    read_only: bool = False


@attrs.frozen
class PermissionsSpec:
    docker: bool = False
    filesystem: FilesystemPermissions = FilesystemPermissions()


@attrs.frozen
class SetupSpec:
    script: str | None = None
    config_files: tuple[str, ...] = ()


@attrs.frozen(eq=True, hash=False)
class ToolSpec:
    """What a tool's manifest says, normalized; the same shape whatever the file format."""

    name: str | None = None
    version: str | None = None
    description: str | None = None
    author: str | None = None
    license: str | None = None
    repository: str | None = None
    platform_version: str | None = None
    category: str = "other"
    port: int = DEFAULT_PORT
    #: The path whose GET must answer 2xx; None: the connect check (any answer but a 5xx).
    health_check: str | None = None
    health_timeout: float | None = None
    #: From the Dockerfile's HEALTHCHECK: how often and how patiently to probe.
    health_interval: float | None = None
    health_retries: int | None = None
    #: Seconds one probe may take (HEALTHCHECK's ``--timeout``); None: 5.
    health_probe_timeout: float | None = None
    build_timeout: float | None = None
    #: Seconds the old instance keeps serving after the switch (None: the setting).
    drain_seconds: float | None = None
    #: Strip ``/tools/<name>`` before proxying (the original did); False passes the full path.
    strip_prefix: bool = True
    #: Seconds the proxy waits for the tool to answer (None: ``MACHETE_PROXY_READ_TIMEOUT``).
    proxy_timeout: float | None = None
    environment: dict[str, str] = attrs.field(factory=dict)
    volumes: tuple[VolumeSpec, ...] = ()
    dependencies: tuple[str, ...] = ()
    #: Build-time ``ARG`` values.
    build_args: dict[str, str] = attrs.field(factory=dict)
    #: Other tools (by name) whose networks this tool joins, so it can reach them.
    connects_to: tuple[str, ...] = ()
    builder: str | None = None
    runtime: str | None = None
    dockerfile: str = "Dockerfile"
    #: The tool's folder in the repository (a monorepo); the build context and manifest.
    path: str = "."
    #: The Dockerfile stage to build; None: the last.
    target: str | None = None
    #: Instances of each release (runtimes that can run several, e.g. ``swarm``); None: 1.
    replicas: int | None = None
    config: dict[str, Any] = attrs.field(factory=dict)
    ui: UiSpec = UiSpec()
    resources: ResourcesSpec = ResourcesSpec()
    permissions: PermissionsSpec = PermissionsSpec()
    setup: SetupSpec = SetupSpec()
    #: Which file the spec came from: ``machete.yml``, ``tool.json`` or ``none``.
    manifest_format: str = "none"
    #: The fields the manifest set itself (inference from the Dockerfile never overrides them).
    declared: tuple[str, ...] = ()


@attrs.frozen
class ToolOverrides:
    """What an operator set for a tool at install or later (``--port``, ``machete set``...):
    stored with the tool and applied on every deploy, over the manifest and the Dockerfile."""

    port: int | None = None
    #: A path, or ``none`` for the connect check.
    health_path: str | None = None
    #: The tool's folder in the repository.
    subdir: str | None = None
    dockerfile: str | None = None
    target: str | None = None
    build_args: dict[str, str] = attrs.field(factory=dict)

    def merged(self, other: ToolOverrides) -> ToolOverrides:
        """These overrides with ``other``'s set fields on top (build args merged)."""
        fields = {f.name: getattr(other, f.name) for f in attrs.fields(ToolOverrides)}
        kept = {k: v for k, v in fields.items() if v is not None and k != "build_args"}
        return attrs.evolve(self, **kept, build_args={**self.build_args, **other.build_args})
