"""WebSockets of lifecycle events (``/api/events``) and of a tool's output followed across its
releases (``/api/tools/{tool}/logs/follow``)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from machete_core.machete import Machete
from machete_web.api.common import int_query, machete
from machete_web.api.streams import cross_site, pump, watch_credentials, websocket
from machete_web.keys import EVENT_FEED, core
from machete_web.problems import problem
from machete_web.schemas import render


def setup(app: web.Application) -> None:
    app.router.add_get("/api/events", events)
    app.router.add_get("/api/tools/{tool}/logs/follow", follow_tool_logs)


async def events(request: web.Request) -> web.StreamResponse:
    """Lifecycle events of every process on this state, as JSON messages, until the client
    leaves. ``?after=ID`` first replays recorded events after that id (to resume after a
    disconnect); ``?tool=NAME`` keeps one tool's events only. A plain GET (no WebSocket)
    answers the ``?last=N`` (default 20) newest events, and ``last_id`` to follow on from."""
    try:
        after = int(request.query["after"]) if "after" in request.query else None
        if after is not None and not 0 <= after < 2**63:
            raise ValueError
    except ValueError:
        return problem(422, "invalid_input", "'after' must be an event id")
    if not websocket(request).can_prepare(request).ok:
        return await recent_events(request)
    refused = cross_site(request)
    if refused is not None:
        return refused
    tool = request.query.get("tool")
    m = machete(request)
    feed = request.app[EVENT_FEED]
    ws = websocket(request)
    await ws.prepare(request)
    queue = feed.subscribe()
    reader = asyncio.create_task(ws.receive())  # notices the client closing
    watch = watch_credentials(request, ws)
    visible = Visible(request, m)
    try:
        sent = after or 0
        if after is not None:
            for event in await feed.backlog(after):
                if (tool is None or event.tool == tool) and await visible.sees(
                    event.tool, event.kind
                ):
                    await ws.send_json(render(event))
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
            if await visible.sees(event.tool, event.kind):
                await ws.send_json(render(event))
    finally:
        watch.cancel()
        feed.unsubscribe(queue)
        reader.cancel()
        await ws.close()
    return ws


async def recent_events(request: web.Request) -> web.Response:
    last = int_query(request, "last", 20, 0, 10_000)
    m = machete(request)

    def read() -> tuple[list[Any], int]:
        # The id first: an event recorded meanwhile is then followed, not lost.
        last_id = m.last_event_id()
        return list(m.events_log(last=last, tool=request.query.get("tool") or None)), last_id

    found, last_id = await core(request, read)
    return web.json_response({"events": render(found), "last_id": last_id})


class Visible:
    """The tools whose events a stream's principal may see, re-read every few seconds."""

    REFRESH_S = 5.0

    def __init__(self, request: web.Request, machete: Machete) -> None:
        self._request, self._machete = request, machete
        self._names: set[str] | None = None
        self._at = -1e9

    async def sees(self, tool: str | None, kind: str = "") -> bool:
        if kind.startswith("access."):
            return False  # internal signals between servers, not for watchers
        loop = asyncio.get_running_loop()
        if loop.time() - self._at > self.REFRESH_S:
            self._names = await core(self._request, self._machete.visible_tool_names)
            self._at = loop.time()
        return self._names is None or (tool is not None and tool in self._names)


async def follow_tool_logs(request: web.Request) -> web.StreamResponse:
    """The tool's output from ``?tail=`` lines back, then live across deploys, with its
    lifecycle events as ``--- machete: ...`` lines; ends when the tool is removed."""
    refused = cross_site(request)
    if refused is not None:
        return refused
    tail = int_query(request, "tail", 100, 0, 100_000)
    follower = await core(
        request, machete(request).tool_log_follower, request.match_info["tool"], tail=tail
    )
    ws = websocket(request)
    await ws.prepare(request)
    watch = watch_credentials(request, ws)
    try:
        await pump(request, ws, follower.read, ws.send_str)
    finally:
        watch.cancel()
        follower.close()
        await ws.close()
    return ws
