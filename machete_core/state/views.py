"""Detached, frozen views of rows: what the store hands out (no session ever leaks)."""

from __future__ import annotations

import json
from typing import Any

import attrs

from machete_core.domain.codec import params_from_data
from machete_core.domain.operations import Actor, OperationKind, OperationParams
from machete_core.domain.status import OperationStatus, ReleaseStatus, ToolStatus


@attrs.frozen
class ToolRecord:
    id: int
    name: str
    source_kind: str
    source_url: str
    source_ref: str | None
    source_credentials: str | None = attrs.field(repr=False)
    builder: str | None
    runtime: str | None
    spec: dict[str, Any]
    enabled: bool
    auto_start: bool
    status: ToolStatus = attrs.field(converter=ToolStatus)
    status_reason: str | None
    health_timeout: float | None
    config_version: int
    current_release_id: int | None
    created_at: float
    updated_at: float
    replicas: int | None = None
    #: As stored (ToolOverrides unstructured).
    overrides: dict[str, Any] = attrs.field(factory=dict)
    #: Who may open the tool: public, members or granted.
    access: str = "members"


@attrs.frozen
class ReleaseRecord:
    id: int
    tool_id: int
    number: int
    key: str
    image_key: str | None
    commit: str | None
    digest: str | None
    ref: str | None
    spec: dict[str, Any]
    builder: str
    runtime: str
    image_id: str | None
    image_tag: str | None
    instance_id: str | None
    instance_name: str | None
    status: ReleaseStatus = attrs.field(converter=ReleaseStatus)
    error: str | None
    logs_tail: str | None
    operation_id: str | None
    trigger: str
    created_at: float
    finished_at: float | None


@attrs.frozen
class ConfigRecord:
    key: str
    value: str = attrs.field(repr=False)
    secret: bool
    updated_at: float
    updated_by: str | None = None


@attrs.frozen
class HealthEventRecord:
    at: float
    health: str
    detail: str | None


@attrs.frozen
class StepRecord:
    name: str
    status: str
    detail: str | None
    started_at: float
    finished_at: float | None


@attrs.frozen
class OperationRecord:
    id: str
    kind: OperationKind = attrs.field(converter=OperationKind)
    tool_id: int | None
    tool_name: str | None
    status: OperationStatus = attrs.field(converter=OperationStatus)
    #: As stored; :attr:`typed_params` is the record of the kind.
    params: dict[str, Any]
    error_code: str | None
    error_message: str | None
    log_path: str
    actor: Actor
    created_at: float
    started_at: float | None
    finished_at: float | None
    holder: str | None = None
    lease_expires_at: float | None = None
    cancel_requested: bool = False
    steps: tuple[StepRecord, ...] = ()
    #: The id of the request that asked for it (also on its audit row and log lines).
    request_id: str | None = None

    @property
    def done(self) -> bool:
        return self.status in (
            OperationStatus.SUCCEEDED,
            OperationStatus.FAILED,
            OperationStatus.CANCELLED,
        )

    @property
    def typed_params(self) -> OperationParams:
        return params_from_data(self.kind, self.params)


@attrs.frozen
class EventRecord:
    id: int
    at: float
    kind: str
    tool: str | None
    operation_id: str | None
    data: dict[str, Any]
    actor: Actor


def view_of(cls: type[Any], row: Any, **extra: Any) -> Any:
    """Copy a row's columns into a frozen view; ``*_json`` columns are decoded."""
    values: dict[str, Any] = {}
    for field in attrs.fields(cls):
        if field.name in extra:
            values[field.name] = extra[field.name]
        elif hasattr(row, field.name):
            values[field.name] = getattr(row, field.name)
        elif hasattr(row, f"{field.name}_json"):
            values[field.name] = json.loads(getattr(row, f"{field.name}_json") or "{}")
    if "actor" in {f.name for f in attrs.fields(cls)} and "actor" not in values:
        values["actor"] = Actor(row.actor_kind, row.actor_id, row.actor_name)
    return cls(**values)
