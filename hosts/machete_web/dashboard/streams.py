"""Live data for the pages as Server-Sent Events: lifecycle events (resumed by event id), an
operation's log (resumed by byte offset: the id of each batch is the offset after its last
line, so a reconnect neither loses nor repeats a line) and a tool's output.

A browser's ``EventSource`` reconnects by itself and sends ``Last-Event-ID``; a tab that was
in the background catches up the same way. Each stream re-checks its credentials every
``MACHETE_WS_HEARTBEAT`` and ends when they are no longer good."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from machete_core.machete import Machete
from machete_web.api.common import int_query, machete
from machete_web.api.events import EventReader
from machete_web.authn import PRINCIPAL
from machete_web.keys import MACHETE, core
from machete_web.problems import RESPONSE_STARTED
from machete_web.schemas import render

POLL_S = 0.2
#: A comment line this often keeps proxies from closing a quiet stream.
KEEPALIVE_S = 15.0


#: Set when the server stops: open streams end at their next poll instead of holding the
#: shutdown until aiohttp's timeout (a browser reconnects to the next server by itself).
CLOSING = web.AppKey("dashboard_streams_closing", asyncio.Event)


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/events/stream", events_stream)
    r.add_get("/operation/{op}/stream", operation_stream)
    r.add_get("/tool/{tool}/logs/stream", tool_log_stream)
    app[CLOSING] = asyncio.Event()
    app.on_shutdown.append(_closing)


async def _closing(app: web.Application) -> None:
    app[CLOSING].set()


def message(data: Any, *, event: str | None = None, ident: str | int | None = None) -> bytes:
    """One SSE message; the data is JSON on one line (a log line's ``\\r`` cannot split it)."""
    head = f"event: {event}\n" if event else ""
    if ident is not None:
        head += f"id: {ident}\n"
    return (head + "data: " + json.dumps(data, separators=(",", ":")) + "\n\n").encode()


def last_id(request: web.Request) -> str | None:
    return request.headers.get("Last-Event-ID") or request.query.get("after") or None


async def open_stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
            "X-Content-Type-Options": "nosniff",
        }
    )
    await response.prepare(request)
    request[RESPONSE_STARTED] = True
    # A reconnecting client waits this long (ms) before trying again.
    await response.write(b"retry: 1000\n\n")
    return response


async def ticks(request: web.Request) -> AsyncIterator[float]:
    """Yields the loop's time each poll while the credentials are good (checked every
    heartbeat) and the server is not stopping."""
    m = request.app[MACHETE]
    closing = request.app[CLOSING]
    loop = asyncio.get_running_loop()
    checked = loop.time()
    while not closing.is_set():
        now = loop.time()
        if now - checked >= m.settings.ws_heartbeat:
            if not await core(request, m.auth.still_valid, request[PRINCIPAL]):
                return
            checked = now
        yield now


async def events_stream(request: web.Request) -> web.StreamResponse:
    """Lifecycle events of the tools the principal may see (``?tool=`` one only); the id is
    the event's, so a reconnect replays exactly what was missed."""
    try:
        after: int | None = max(0, int(last_id(request) or ""))
    except ValueError:
        after = None
    events = EventReader(request, after)
    response = await open_stream(request)
    try:
        for event in await events.replay():
            await response.write(message(render(event), event="event", ident=event.id))
        quiet = 0.0
        async for _now in ticks(request):
            try:
                event = await asyncio.wait_for(events.queue.get(), POLL_S * 5)
            except TimeoutError:
                quiet += POLL_S * 5
                if quiet >= KEEPALIVE_S:
                    await response.write(b": keep-alive\n\n")
                    quiet = 0.0
                continue
            if await events.admits(event):
                await response.write(message(render(event), event="event", ident=event.id))
    except ConnectionResetError:
        pass
    finally:
        events.close()
    return response


def _state(m: Machete, op_id: str) -> dict[str, Any]:
    op = m.operation(op_id)
    return {
        "status": str(op.status),
        "done": op.done,
        "error_code": op.error_code,
        "error_message": op.error_message,
        "steps": [
            {
                "name": s.name,
                "status": s.status,
                "seconds": None if s.finished_at is None else s.finished_at - s.started_at,
                "detail": s.detail,
            }
            for s in op.steps
        ],
    }


async def follow(
    request: web.Request,
    response: web.StreamResponse,
    read: Callable[[], tuple[list[bytes], bool]],
) -> None:
    """Write the messages ``read`` (one short call in the pool) returns until it says it has
    finished, the client leaves or the credentials lapse; a comment keeps a quiet stream
    open."""
    quiet = 0.0
    try:
        async for _now in ticks(request):
            messages, finished = await core(request, read)
            for data in messages:
                await response.write(data)
            if finished:
                return
            if not messages:
                quiet += POLL_S
                if quiet >= KEEPALIVE_S:
                    await response.write(b": keep-alive\n\n")
                    quiet = 0.0
                await asyncio.sleep(POLL_S)
            else:
                quiet = 0.0
    except ConnectionResetError:
        pass  # the client left


async def operation_stream(request: web.Request) -> web.StreamResponse:
    """Batches of log lines (``lines``, with each line's end offset; the message's id is
    the offset after the batch), the operation's status and steps when they change
    (``state``), and ``end`` once it has ended."""
    op_id = request.match_info["op"]
    try:
        offset = max(0, int(last_id(request) or 0))
    except ValueError:
        offset = 0
    m = machete(request)
    follower = await core(request, m.operation_lines, op_id, offset)
    shown: list[dict[str, Any]] = []

    def read() -> tuple[list[bytes], bool]:
        lines, finished = follower.read()
        out = []
        if lines:
            # Each line's end offset too: a page that drops its oldest lines knows exactly
            # where to load earlier ones from.
            batch = {"lines": [t for t, _ in lines], "ends": [e for _, e in lines]}
            out.append(message(batch, event="lines", ident=lines[-1][1]))
        state = _state(m, op_id)
        if state not in shown:
            out.append(message(state, event="state"))
            shown[:] = [state]
        if finished:
            out.append(message(state, event="end"))
        return out, finished

    response = await open_stream(request)
    await follow(request, response, read)
    return response


async def tool_log_stream(request: web.Request) -> web.StreamResponse:
    """The tool's output across releases, ``?tail=`` lines back. A reconnect (with a
    ``Last-Event-ID``) goes on from the live end without the tail again: container output
    has no offset to resume from, so lines written while disconnected are not replayed."""
    resumed = last_id(request) is not None
    tail = 0 if resumed else int_query(request, "tail", 200, 0, 10_000)
    try:
        count = [int(last_id(request) or 0)]
    except ValueError:
        count = [0]
    m = machete(request)
    follower = await core(request, m.tool_log_follower, request.match_info["tool"], tail=tail)

    def read() -> tuple[list[bytes], bool]:
        lines, finished = follower.read()
        out = []
        if lines:
            count[0] += len(lines)
            out.append(message({"lines": lines}, event="lines", ident=count[0]))
        if finished:
            out.append(message({"done": True}, event="end"))
        return out, finished

    response = await open_stream(request)
    try:
        await follow(request, response, read)
    finally:
        follower.close()
    return response
