"""Ending operations whose process died: what any process does when it finds one."""

from __future__ import annotations

import time

from machete_core.context import Core
from machete_core.domain.status import OperationStatus, ReleaseStatus, ToolStatus
from machete_core.pipeline.instances import instance_running
from machete_core.state.views import OperationRecord


def end_abandoned(core: Core, op: OperationRecord) -> None:
    """Mark an operation whose process died as ended, and undo its half-made release."""
    core.store.update_operation(
        op.id,
        status=OperationStatus.FAILED,
        error_code="abandoned",
        error_message="the process running this operation stopped; it was ended and undone",
        finished_at=time.time(),
    )
    core.events.publish(
        "operation.abandoned", tool=op.tool_name, operation_id=op.id, kind=op.kind.value
    )
    tool = core.store.find_tool(op.tool_id) if op.tool_id is not None else None
    if tool is None:
        return
    for rel in core.store.list_releases(tool.id):
        if rel.operation_id != op.id:
            continue
        if rel.status not in (ReleaseStatus.BUILDING, ReleaseStatus.STARTING):
            continue
        if rel.instance_id:
            runtime = core.runtime(rel.runtime)
            runtime.stop(rel.instance_id, timeout=5)
            runtime.remove(rel.instance_id)
        core.store.update_release(
            rel.id, status=ReleaseStatus.FAILED, error="interrupted", finished_at=time.time()
        )
    if tool.status == ToolStatus.BUILDING:
        current = (
            core.store.get_release(tool.current_release_id) if tool.current_release_id else None
        )
        alive = current is not None and instance_running(core, current)
        core.store.update_tool(
            tool.id,
            status=ToolStatus.RUNNING if alive else ToolStatus.FAILED,
            status_reason="an interrupted operation was ended",
        )
