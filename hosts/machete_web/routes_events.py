"""WebSockets: the lifecycle event stream, and following an operation's log live."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from machete_core.oplog import read_log
from machete_core.views import to_data
from machete_web.app import EVENT_FEED, MACHETE, core
from machete_web.problems import problem

FOLLOW_POLL_S = 0.2


def setup(app: web.Application) -> None:
    app.router.add_get("/api/events", events)
    app.router.add_get("/api/operations/{op}/log/follow", follow_log)


def _cross_site(request: web.Request) -> bool:
    # Browsers send Origin on WebSocket handshakes; another site's page may not listen in.
    origin = request.headers.get("Origin")
    return origin is not None and origin not in (
        f"http://{request.host}",
        f"https://{request.host}",
    )


async def events(request: web.Request) -> web.StreamResponse:
    """Lifecycle events of every process on this state, as JSON messages, until the client
    leaves. ``?after=ID`` first replays recorded events after that id (to resume after a
    disconnect); ``?tool=NAME`` keeps one tool's events only."""
    if _cross_site(request):
        return problem(403, "cross_origin", "cross-site WebSocket connections are refused")
    try:
        after = int(request.query["after"]) if "after" in request.query else None
        if after is not None and not 0 <= after < 2**63:
            raise ValueError
    except ValueError:
        return problem(422, "invalid_input", "'after' must be an event id")
    tool = request.query.get("tool")
    feed = request.app[EVENT_FEED]
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    queue = feed.subscribe()
    reader = asyncio.create_task(ws.receive())  # notices the client closing
    try:
        sent = after or 0
        if after is not None:
            for event in await feed.backlog(after):
                if tool is None or event.tool == tool:
                    await ws.send_json(to_data(event))
                sent = event.id
        while not ws.closed:
            getter = asyncio.create_task(queue.get())
            done, _pending = await asyncio.wait(
                {getter, reader}, return_when=asyncio.FIRST_COMPLETED
            )
            if reader in done:
                getter.cancel()
                break
            event = getter.result()
            if event.id <= sent or (tool is not None and event.tool != tool):
                continue  # already replayed, or another tool's
            await ws.send_json(to_data(event))
    finally:
        feed.unsubscribe(queue)
        reader.cancel()
        await ws.close()
    return ws


async def follow_log(request: web.Request) -> web.StreamResponse:
    """Lines of an operation's log from ``?offset=``, then new ones live, closing when it ends."""
    if _cross_site(request):
        return problem(403, "cross_origin", "cross-site WebSocket connections are refused")
    m = request.app[MACHETE]
    op = await core(request, m.operation, request.match_info["op"])
    try:
        offset = max(0, int(request.query.get("offset", "0")))
    except ValueError:
        return problem(422, "invalid_input", "'offset' must be an integer")
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    path = Path(op.log_path)
    try:
        while not ws.closed:
            done = (await core(request, m.operation, op.id)).done
            text, offset = await core(request, read_log, path, offset)
            for line in text.splitlines():
                await ws.send_str(line)
            if done and not text:
                break
            if not text:
                await asyncio.sleep(FOLLOW_POLL_S)
    finally:
        await ws.close()
    return ws
