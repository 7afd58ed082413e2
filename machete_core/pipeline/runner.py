"""Running a submitted operation to its end: the handler of each kind, the verdict recorded,
the cancel token and lease let go. Errors end up recorded, and re-raised."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable

from machete_core import log_context
from machete_core.context import Core
from machete_core.domain.operations import OperationKind
from machete_core.domain.records import CancelToken
from machete_core.domain.status import OperationStatus
from machete_core.errors import InternalError, MacheteError
from machete_core.pipeline import deploy, lifecycle
from machete_core.pipeline.abandon import end_abandoned
from machete_core.pipeline.run import OperationRun, StepListener
from machete_core.state.views import OperationRecord

log = logging.getLogger(__name__)

Handler = Callable[[OperationRun], None]

#: One handler per kind; the steps each may run are declared in ``domain.operations.STEPS``.
HANDLERS: dict[OperationKind, Handler] = {
    OperationKind.INSTALL: deploy.run_deploy,
    OperationKind.DEPLOY: deploy.run_deploy,
    OperationKind.BUILD: deploy.run_build,
    OperationKind.START: lifecycle.run_start,
    OperationKind.STOP: lifecycle.run_stop,
    OperationKind.RESTART: lifecycle.run_restart,
    OperationKind.REMOVE: lifecycle.run_remove,
    OperationKind.ROLLBACK: deploy.run_rollback,
    OperationKind.SCALE: lifecycle.run_scale,
}


def run_operation(
    core: Core,
    op_id: str,
    *,
    on_line: Callable[[str], None] | None = None,
    on_step: StepListener | None = None,
) -> OperationRecord:
    op = core.store.get_operation(op_id)
    # Its log lines carry the operation, its tool and the request that asked for it, in
    # whichever process or thread it runs.
    secrets = core.config_secrets(op.tool_id) if op.tool_id is not None else ()
    with (
        log_context.bound(
            operation_id=op.id,
            tool=op.tool_name,
            actor=op.actor.describe(),
            request_id=op.request_id or log_context.request_id(),
        ),
        log_context.secrets_bound(secrets),
    ):
        return _run(core, op, secrets, on_line, on_step)


def _run(
    core: Core,
    op: OperationRecord,
    secrets: tuple[str, ...],
    on_line: Callable[[str], None] | None,
    on_step: StepListener | None,
) -> OperationRecord:
    op_id = op.id
    cancel = core.cancels.get(op_id)
    if cancel is None:
        # Submitted by another object (or process) that handed it over: take it.
        cancel = CancelToken()
        core.cancels[op_id] = cancel
        core.store.update_operation(op_id, holder=core.holder_id)
        core.leases.hold(op_id, cancel)
    run = OperationRun(core, op, cancel, on_line, on_step)
    run.add_secrets(secrets)
    core.store.update_operation(op_id, status=OperationStatus.RUNNING, started_at=time.time())
    log.info("operation %s (%s) started", op.kind.value, op_id)
    run.publish("operation.started", kind=op.kind.value)
    error: MacheteError | None = None
    try:
        HANDLERS[op.kind](run)
    except MacheteError as exc:
        error = exc
        exc.message = run.redact(exc.message)
        run.log.write(f"error [{exc.code}]: {exc.message}")
        status = OperationStatus.CANCELLED if exc.code == "cancelled" else OperationStatus.FAILED
        finished = core.store.finish_operation(
            op_id,
            core.holder_id,
            status=status,
            error_code=exc.code,
            error_message=exc.message,
            finished_at=time.time(),
        )
    except Exception as exc:
        # A bug: recorded with its traceback in the operation log, reported to the user as an
        # internal error, never lost. (Providers' failures arrive as PluginFailedError.)
        for line in traceback.format_exc().splitlines():
            run.log.write(line)
        error = InternalError(run.redact(f"internal error: {type(exc).__name__}: {exc}"))
        finished = core.store.finish_operation(
            op_id,
            core.holder_id,
            status=OperationStatus.FAILED,
            error_code=error.code,
            error_message=error.message,
            finished_at=time.time(),
        )
    else:
        run.log.write(f"{op.kind} succeeded")
        finished = core.store.finish_operation(
            op_id, core.holder_id, status=OperationStatus.SUCCEEDED, finished_at=time.time()
        )
    finally:
        run.log.close()
        core.cancels.pop(op_id, None)
        core.leases.release(op_id)
        if run.tool_name:
            # What was observed of the tool's instances may have changed: observe afresh.
            core.observed.forget_tool(run.tool_name)
    if not finished:
        log.warning("operation %s was ended by another process meanwhile; kept its verdict", op_id)
    final = core.store.get_operation(op_id)
    run.tool_name = final.tool_name
    log.info("operation %s (%s) ended: %s", final.kind.value, op_id, final.status.value)
    run.publish("operation.finished", status=final.status.value, kind=final.kind.value)
    if error is not None:
        raise error
    return final


def cancel_operation(core: Core, op_id: str) -> bool:
    """Ask an unfinished operation to stop, whichever process runs it (see Machete.cancel)."""
    token = core.cancels.get(op_id)
    if token is not None:
        token.cancel()
        return True
    op = core.store.get_operation(op_id)
    if op.done:
        return False
    if not core.holder_alive(op):
        end_abandoned(core, op)
        return True
    return core.store.request_cancel(op_id)
