"""Streaming the core's followers over WebSockets without pinning a worker thread per
reader: each poll is one short call in the pool, the waiting happens on the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from aiohttp import web

from machete_web.authn import PRINCIPAL
from machete_web.keys import MACHETE, core
from machete_web.problems import problem

T = TypeVar("T")
POLL_S = 0.2


def cross_site(request: web.Request) -> web.Response | None:
    """Browsers send Origin on WebSocket handshakes; another site's page may not listen in."""
    origin = request.headers.get("Origin")
    if origin is not None and origin not in (f"http://{request.host}", f"https://{request.host}"):
        return problem(403, "cross_origin", "cross-site WebSocket connections are refused")
    return None


async def pump(
    request: web.Request,
    ws: web.WebSocketResponse,
    read: Callable[[], tuple[Sequence[T], bool]],
    send: Callable[[T], Awaitable[None]],
    poll: float = POLL_S,
) -> None:
    """Send what ``read`` returns until it says it has finished or the client leaves."""
    closed = asyncio.create_task(ws.receive())  # notices the client closing
    try:
        while not ws.closed and not closed.done():
            items, finished = await core(request, read)
            for item in items:
                await send(item)
            if finished:
                return
            if not items:
                await asyncio.wait({closed}, timeout=poll)
    finally:
        closed.cancel()


def websocket(request: web.Request) -> web.WebSocketResponse:
    return web.WebSocketResponse(heartbeat=request.app[MACHETE].settings.ws_heartbeat)


def watch_credentials(request: web.Request, ws: web.WebSocketResponse) -> asyncio.Task[None]:
    """Close the stream within one heartbeat once its session or token stops being good
    (revoked, expired, signed out, the user disabled or their role changed)."""
    principal = request[PRINCIPAL]
    machete = request.app[MACHETE]

    async def run() -> None:
        while not ws.closed:
            await asyncio.sleep(machete.settings.ws_heartbeat)
            if not await core(request, machete.auth.still_valid, principal):
                await ws.close(code=4401, message=b"credentials no longer valid")
                return

    return asyncio.create_task(run())
