"""WebSockets of lifecycle events (``/api/events``) and of a tool's output followed across its
releases (``/api/tools/{tool}/logs/follow``)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from machete_core.machete import Machete
from machete_core.state.views import EventRecord
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
    ws = websocket(request)
    await ws.prepare(request)
    events = EventReader(request, after)
    reader = asyncio.create_task(ws.receive())  # notices the client closing
    watch = watch_credentials(request, ws)
    try:
        for event in await events.replay():
            await ws.send_json(render(event))
        while not ws.closed:
            getter = asyncio.create_task(events.queue.get())
            done, _pending = await asyncio.wait(
                {getter, reader}, return_when=asyncio.FIRST_COMPLETED
            )
            if reader in done:
                getter.cancel()
                break
            event = getter.result()
            if await events.admits(event):
                await ws.send_json(render(event))
    finally:
        watch.cancel()
        events.close()
        reader.cancel()
        await ws.close()
    return ws


async def recent_events(request: web.Request) -> web.Response:
    last = int_query(request, "last", 20, 0, 10_000)
    tool = request.query.get("tool") or None
    found, last_id = await core(request, newest, machete(request), last, tool)
    return web.json_response({"events": render(found), "last_id": last_id})


def newest(m: Machete, last: int, tool: str | None) -> tuple[list[Any], int]:
    """The ``last`` newest events the principal may see, and the id to follow on from."""
    # The id first: an event recorded meanwhile is then followed, not lost.
    last_id = m.last_event_id()
    return list(m.events_log(last=last, tool=tool)), last_id


class EventReader:
    """What one reader of the live events gets (the WebSocket here, the dashboard's event
    stream): the recorded events after ``after`` first, then the feed's, each once, of
    ``?tool=`` only when given, and only of tools the principal may see."""

    def __init__(self, request: web.Request, after: int | None) -> None:
        self._feed = request.app[EVENT_FEED]
        self._after = after
        self._sent = after or 0
        self._tool = request.query.get("tool") or None
        self._visible = Visible(request, machete(request))
        # Subscribed before the replay is read: nothing falls between the two.
        self.queue = self._feed.subscribe()

    async def replay(self) -> list[EventRecord]:
        if self._after is None:
            return []
        return [e for e in await self._feed.backlog(self._after) if await self.admits(e)]

    async def admits(self, event: EventRecord) -> bool:
        if event.id <= self._sent:
            return False  # already sent (replayed, then heard again from the feed)
        self._sent = event.id
        if self._tool is not None and event.tool != self._tool:
            return False
        return await self._visible.sees(event.tool, event.kind)

    def close(self) -> None:
        self._feed.unsubscribe(self.queue)


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
