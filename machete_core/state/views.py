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


#: How a field is read from a row: its own column, a ``<name>_json`` column, or not at all.
_COLUMN, _JSON, _ABSENT = 0, 1, 2


Plan = tuple[tuple[tuple[str, int], ...], bool]


_PLANS: dict[tuple[type[Any], type[Any]], Plan] = {}


def _mapped_plan(cls: type[Any], row_type: type[Any]) -> Plan:
    """For a mapped row class, whose columns are attributes of the class: once per pair
    (listings make thousands of views a request)."""
    plan = _PLANS.get((cls, row_type))
    if plan is None:
        plan = _PLANS[(cls, row_type)] = _plan(cls, row_type)
    return plan


def _plan(cls: type[Any], row: Any) -> Plan:
    """Each field of ``cls`` and where ``row`` has it."""
    plan = []
    for field in attrs.fields(cls):
        if hasattr(row, field.name):
            plan.append((field.name, _COLUMN))
        elif hasattr(row, f"{field.name}_json"):
            plan.append((field.name, _JSON))
        else:
            plan.append((field.name, _ABSENT))
    return tuple(plan), any(name == "actor" for name, _ in plan)


def view_of(cls: type[Any], row: Any, **extra: Any) -> Any:
    """Copy a row's columns into a frozen view; ``*_json`` columns are decoded."""
    mapped = hasattr(type(row), "__mapper__")
    plan, has_actor = _mapped_plan(cls, type(row)) if mapped else _plan(cls, row)
    values: dict[str, Any] = {}
    for name, where in plan:
        if name in extra:
            values[name] = extra[name]
        elif where == _COLUMN:
            values[name] = getattr(row, name)
        elif where == _JSON:
            values[name] = json.loads(getattr(row, f"{name}_json") or "{}")
    if has_actor and "actor" not in values:
        values["actor"] = Actor(row.actor_kind, row.actor_id, row.actor_name)
    return cls(**values)
