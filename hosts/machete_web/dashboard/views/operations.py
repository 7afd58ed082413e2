"""An operation's page: its steps with their durations as they happen, the live log, cancel,
and on failure the reason with the failed instance's last lines (in the log's tail)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from machete_core.errors import MacheteError
from machete_core.machete import Machete
from machete_web.api.common import int_query, machete
from machete_web.dashboard.pages import render, see_other
from machete_web.keys import core

#: Lines the page shows without a script (the live log keeps its own window).
STATIC_TAIL = 400


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/operation/{op}", operation_page)
    r.add_post("/operation/{op}/cancel", cancel)
    r.add_get("/operation/{op}/lines", earlier_lines)


def _gather(m: Machete, op_id: str) -> dict[str, Any]:
    op = m.operation(op_id)
    lines, first = m.operation_lines(op_id).page(STATIC_TAIL)
    if op.tool_id is not None:
        may_cancel = "tools.operate" in m.allowed(("tools.operate",), op.tool_id)
    else:
        # An install's operation (no tool yet): the guard lets whoever started it cancel it.
        may_cancel = op.actor == m.principal.actor()
    failed = []
    if op.status == "failed" and op.tool_name:
        # The release this operation tried: its error and its instance's last lines.
        try:
            failed = [r for r in m.releases(op.tool_name) if r.operation_id == op.id]
        except MacheteError:
            failed = []  # the tool is gone since
    return {
        "failed_releases": failed,
        "op": op,
        "lines": lines,
        "offset": lines[-1][1] if lines else 0,
        "first_offset": first,
        "may_cancel": may_cancel and not op.done,
    }


async def operation_page(request: web.Request) -> web.Response:
    data = await core(request, _gather, machete(request), request.match_info["op"])
    title = f"{data['op'].kind} {data['op'].tool_name or ''}"
    return await render(request, "operation.html", {**data, "title": title})


async def cancel(request: web.Request) -> web.Response:
    op_id = request.match_info["op"]
    await core(request, machete(request).cancel, op_id)
    return see_other(f"/operation/{op_id}")


async def earlier_lines(request: web.Request) -> web.Response:
    """``?before=OFFSET&count=N``: the lines that end at or before a byte offset, for a live
    log that keeps a window and loads earlier lines on demand."""
    before = int_query(request, "before", 0, 0, 2**62)
    count = int_query(request, "count", 500, 1, 5000)
    m = machete(request)

    def read() -> tuple[list[tuple[str, int]], int]:
        return m.operation_lines(request.match_info["op"]).page(count, before)

    lines, start = await core(request, read)
    return web.json_response(
        {"lines": [{"text": t, "end": end} for t, end in lines], "start": start}
    )
