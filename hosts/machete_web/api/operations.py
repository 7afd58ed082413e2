"""``/api/operations``: operations, their logs (by offset, or followed live), cancelling."""

from __future__ import annotations

from aiohttp import web

from machete_core.domain.operations import StepProgress
from machete_web.api.common import int_query, machete, respond
from machete_web.api.streams import cross_site, pump, watch_credentials, websocket
from machete_web.keys import core
from machete_web.problems import problem
from machete_web.schemas import (
    Cancelling,
    OperationEnvelope,
    OperationLogChunk,
    Operations,
    render,
)

#: How often an operation's progress is read while nothing new came (two reads of a file's
#: size and an indexed query; a few followers at a time).
PROGRESS_POLL_S = 0.05


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/operations", list_operations)
    r.add_get("/api/operations/{op}", get_operation)
    r.add_get("/api/operations/{op}/log", operation_log)
    r.add_get("/api/operations/{op}/log/follow", follow_log)
    r.add_get("/api/operations/{op}/progress", follow_progress)
    r.add_post("/api/operations/{op}/cancel", cancel_operation)


async def list_operations(request: web.Request) -> web.Response:
    limit = int_query(request, "limit", 50, 1, 500)
    ops = await core(request, machete(request).operations, None, limit)
    return respond(Operations(ops))


async def get_operation(request: web.Request) -> web.Response:
    op = await core(request, machete(request).operation, request.match_info["op"])
    return respond(OperationEnvelope(op))


async def operation_log(request: web.Request) -> web.Response:
    offset = int_query(request, "offset", 0, 0, 2**62)
    m = machete(request)
    op_id = request.match_info["op"]
    op = await core(request, m.operation, op_id)
    text, next_offset = await core(request, m.operation_log, op_id, offset)
    return respond(OperationLogChunk(text, offset, next_offset, op.done))


async def follow_log(request: web.Request) -> web.StreamResponse:
    """Lines of an operation's log from ``?offset=``, then new ones live, closing when it ends."""
    refused = cross_site(request)
    if refused is not None:
        return refused
    m = machete(request)
    try:
        offset = max(0, int(request.query.get("offset", "0")))
    except ValueError:
        return problem(422, "invalid_input", "'offset' must be an integer")
    tail = await core(request, m.operation_tail, request.match_info["op"], offset)
    ws = websocket(request)
    await ws.prepare(request)
    watch = watch_credentials(request, ws)
    try:
        await pump(request, ws, tail.read, ws.send_str)
    finally:
        watch.cancel()
        await ws.close()
    return ws


async def follow_progress(request: web.Request) -> web.StreamResponse:
    """The operation's steps and log lines as JSON messages, in order, then its record:
    ``{"type": "step", "step", "index", "total", "state", ...}``, ``{"type": "line",
    "text"}``, and last ``{"type": "end", "operation": {...}}`` (what ``machete`` shows)."""
    refused = cross_site(request)
    if refused is not None:
        return refused
    m = machete(request)
    op_id = request.match_info["op"]
    progress = await core(request, m.operation_progress, op_id)
    ws = websocket(request)
    await ws.prepare(request)
    watch = watch_credentials(request, ws)

    async def send(item: StepProgress | str) -> None:
        if isinstance(item, str):
            await ws.send_json({"type": "line", "text": item})
        else:
            await ws.send_json({"type": "step", **render(item)})

    try:
        # A person waits on the end of this one: poll more often than a log tail.
        await pump(request, ws, progress.read, send, poll=PROGRESS_POLL_S)
        if not ws.closed:
            op = await core(request, m.operation, op_id)
            await ws.send_json({"type": "end", "operation": render(op)})
    finally:
        watch.cancel()
        await ws.close()
    return ws


async def cancel_operation(request: web.Request) -> web.Response:
    op_id = request.match_info["op"]
    if not await core(request, machete(request).cancel, op_id):
        return problem(
            409, "operation_ended", f"operation {op_id} has already ended", operation_id=op_id
        )
    return respond(Cancelling(op_id, True), status=202)
