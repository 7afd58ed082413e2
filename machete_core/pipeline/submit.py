"""Submitting operations: validate, record them pending with their actor, and hold them.

Long operations come in two halves so that a web host can answer at once: these functions
record an operation, :func:`~machete_core.pipeline.runner.run_operation` executes it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, BinaryIO

from machete_core import log_context
from machete_core.context import Core
from machete_core.domain.codec import params_to_data
from machete_core.domain.naming import choose_name
from machete_core.domain.operations import (
    PARAMS,
    Actor,
    DeployParams,
    InstallParams,
    OperationKind,
    OperationParams,
)
from machete_core.domain.records import CancelToken
from machete_core.domain.spec import ToolOverrides
from machete_core.errors import InvalidInputError, ToolBusyError, ToolExistsError
from machete_core.manifest.inference import check_overrides
from machete_core.manifest.loader import MAX_REPLICAS
from machete_core.pipeline.abandon import end_abandoned
from machete_core.secrets import Credentials
from machete_core.sources.uploads import store_upload
from machete_core.sources.url_policy import check_source_url
from machete_core.state.views import OperationRecord, ToolRecord

#: Every kind changes the tool: one at a time per tool, across processes.
EXCLUSIVE = tuple(k.value for k in OperationKind)

WaitListener = Callable[[OperationRecord], None]


def operation_params(kind: OperationKind, params: dict[str, Any]) -> OperationParams:
    """The params record of ``kind`` from keyword values; values a user gives (replicas) are
    checked here, for every host."""
    if kind == OperationKind.SCALE:
        check_replicas(params.get("replicas"))
    record: OperationParams = PARAMS[kind](**params)
    return record


def check_replicas(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_REPLICAS:
        raise InvalidInputError(f"replicas must be a whole number from 1 to {MAX_REPLICAS}")
    return value


def new_operation(
    core: Core,
    kind: OperationKind,
    tool: ToolRecord | None,
    params: OperationParams,
    actor: Actor,
) -> OperationRecord:
    if not isinstance(params, PARAMS[kind]):
        raise TypeError(f"{kind} takes {PARAMS[kind].__name__}, not {type(params).__name__}")
    op_id = uuid.uuid4().hex
    if tool is not None:
        check_not_busy(core, tool.name)
    name = params.name if isinstance(params, InstallParams) else None
    op = core.store.create_operation(
        actor=actor,
        exclusive_kinds=EXCLUSIVE if tool is not None else (),
        id=op_id,
        kind=kind.value,
        tool_id=tool.id if tool else None,
        tool_name=tool.name if tool else name,
        params=params_to_data(params),
        holder=core.holder_id,
        lease_expires_at=time.time() + core.settings.lease_seconds,
        log_path=str(core.settings.logs_dir / "operations" / f"{op_id}.log"),
        request_id=log_context.request_id(),
    )
    # Held (and its lease renewed) from now on, even while it waits for a worker.
    token = CancelToken()
    core.cancels[op_id] = token
    core.leases.hold(op_id, token)
    return op


def new_operation_waiting(
    core: Core,
    kind: OperationKind,
    tool: ToolRecord,
    params: OperationParams,
    actor: Actor,
    wait: float | None,
    on_wait: WaitListener | None = None,
) -> OperationRecord:
    """Like :func:`new_operation`, but a busy tool is waited for up to ``wait`` seconds
    (``inf`` for as long as it takes) instead of refused; ``on_wait`` hears which operation
    is being waited for."""
    deadline = time.monotonic() + (wait or 0.0)
    told: str | None = None
    while True:
        try:
            return new_operation(core, kind, tool, params, actor)
        except ToolBusyError as exc:
            if not wait or time.monotonic() >= deadline:
                raise
            other = str(exc.details.get("operation", ""))
            if on_wait is not None and other and other != told:
                told = other
                on_wait(core.store.get_operation(other))
            time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))


def check_not_busy(core: Core, tool_name: str, *, besides: str | None = None) -> None:
    """Refuse while another operation (than ``besides``) of the tool is unfinished."""
    for op in core.store.list_operations(tool_name, limit=20):
        if op.done or op.id == besides:
            continue
        if core.holder_alive(op):
            raise ToolBusyError(
                f"{tool_name} is busy with operation {op.id} ({op.kind}); try again when it ends",
                details={"operation": op.id},
            )
        # Its process is gone: end it and undo what it left half-made, then go ahead.
        end_abandoned(core, op)


def _check_new_name(core: Core, name: str | None) -> str | None:
    """An install under an explicit name: refused when a tool of that name ever ran (one whose
    install never became healthy is retried instead)."""
    if name is None:
        return None
    name = choose_name(explicit=name)
    existing = core.store.find_tool(name)
    if existing is not None and existing.current_release_id is not None:
        raise ToolExistsError(
            f"a tool named {name!r} already exists: use `machete deploy {name}` to update it, "
            "or install this one under another name (--name)"
        )
    return name


def submit_install(
    core: Core,
    url: str,
    actor: Actor,
    *,
    name: str | None = None,
    ref: str | None = None,
    source: str = "",
    credentials: Credentials | None = None,
    overrides: ToolOverrides | None = None,
) -> OperationRecord:
    if url.startswith("upload:"):
        raise InvalidInputError("upload the archive itself instead of naming an upload")
    checked = check_source_url(url, core.settings.allowed_schemes)
    record = core.plugins.source_for(checked, source)
    params = InstallParams(
        url=checked,
        ref=ref or None,
        source_kind=record.name,
        name=_check_new_name(core, name),
        credentials=core.secrets.seal_credentials(credentials) if credentials else None,
        overrides=check_overrides(overrides or ToolOverrides()),
    )
    return new_operation(core, OperationKind.INSTALL, None, params, actor)


def submit_upload(
    core: Core,
    stream: BinaryIO,
    actor: Actor,
    *,
    tool: str | int | None = None,
    name: str | None = None,
    filename: str | None = None,
    overrides: ToolOverrides | None = None,
) -> OperationRecord:
    """Store an uploaded archive (streamed, size-capped), then install or redeploy from it."""
    checked = check_overrides(overrides or ToolOverrides())
    existing = core.store.get_tool(tool) if tool is not None else None
    if existing is not None:
        check_not_busy(core, existing.name)
    else:
        name = _check_new_name(core, name)
    locator = store_upload(core.settings, stream)
    source = core.plugins.source_for(locator).name
    if existing is not None:
        params = DeployParams(url=locator, source_kind=source)
        return new_operation(core, OperationKind.DEPLOY, existing, params, actor)
    install = InstallParams(
        url=locator, source_kind=source, name=name, name_hint=filename, overrides=checked
    )
    return new_operation(core, OperationKind.INSTALL, None, install, actor)


def submit_change(
    core: Core,
    kind: OperationKind,
    ident: str | int,
    params: OperationParams,
    actor: Actor,
    *,
    wait: float | None = None,
    on_wait: WaitListener | None = None,
) -> OperationRecord:
    """Record an operation on an installed tool (every kind but install)."""
    if kind == OperationKind.INSTALL:
        raise ValueError("installs are submitted with submit_install or submit_upload")
    tool = core.store.get_tool(ident)
    return new_operation_waiting(core, kind, tool, params, actor, wait, on_wait)
