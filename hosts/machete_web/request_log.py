"""Each request's id, its log context and its access line.

The id is the client's ``X-Request-ID`` when it is well formed (short, printable: see
:func:`machete_core.log_context.well_formed_request_id`), else a new one. It is bound to the
log context for everything the request does (the core's work in the pool included: ``keys.core``
copies the context), echoed on the response, stored on an operation the request starts and on
its audit rows, and sent on to the tool behind the proxy. The access line is one structured
record per request on the ``machete.access`` logger.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from machete_core import log_context
from machete_core.domain.naming import is_valid_name

HEADER = "X-Request-ID"
REQUEST_ID = web.RequestKey("request_id", str)

access_log = logging.getLogger("machete.access")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: What the access line and the metrics know of a request once it is answered:
#: (request, route template or None, status or None when aborted, seconds).
Observer = Callable[[web.Request, str | None, int | None, float], None]


def request_id_for(request: web.Request) -> str:
    given = request.headers.get(HEADER, "")
    # 128 random bits as 32 hex digits (as a uuid4's hex, without building a UUID object).
    return given if given and log_context.well_formed_request_id(given) else secrets.token_hex(16)


def request_middleware(
    route_of: Callable[[web.Request], str | None],
    observe: Observer | None = None,
    *,
    tools: bool = False,
) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        rid = request_id_for(request)
        request[REQUEST_ID] = rid
        route = route_of(request)
        named = request.match_info.get("tool")
        token = log_context.bind(
            request_id=rid, route=route, tool=named if named and is_valid_name(named) else None
        )
        started = time.perf_counter()
        status: int | None = None
        response: web.StreamResponse | None = None
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            seconds = time.perf_counter() - started
            if observe is not None:
                try:
                    observe(request, route, status, seconds)
                except Exception:  # metrics must never fail a request
                    access_log.exception("recording a request's metrics failed")
            access_log.info(
                "request",
                extra={
                    "method": request.method,
                    "path": request.path[:512],
                    "status": status if status is not None else "aborted",
                    "duration_ms": round(seconds * 1000, 2),
                    "bytes": getattr(response, "body_length", 0) if response else 0,
                    "remote": request.remote,
                    "listener": "tools" if tools else "api",
                },
            )
            log_context.reset(token)

    return middleware


async def echo_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: every answer names its request (streams too)."""
    rid = request.get(REQUEST_ID)
    if rid:
        response.headers[HEADER] = rid
