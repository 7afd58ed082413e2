"""JSON error documents with stable codes; bad input is a 4xx, never a 500."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from machete_core.errors import MacheteError

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: Set once a streamed response has begun: an error after that must not write a second one.
RESPONSE_STARTED = web.RequestKey("response_started", bool)


def problem(status: int, code: str, message: str, **details: Any) -> web.Response:
    body: dict[str, Any] = {
        "success": False,
        "error": {"code": code, "message": message},
        # The original API's envelope fields, kept for existing scripts.
        "error_code": code,
        "message": message,
    }
    if details:
        body["error"]["details"] = details
    return web.json_response(body, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except MacheteError as exc:
        response = problem(exc.http_status, exc.code, exc.message, **exc.details)
        if exc.http_status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="machete"'
        if exc.http_status == 429 and "retry_after" in exc.details:
            response.headers["Retry-After"] = str(exc.details["retry_after"])
        return response
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status, "http_error"
        )
        return problem(exc.status, code, exc.reason)
    except json.JSONDecodeError:
        return problem(400, "invalid_json", "the request body is not valid JSON")
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        if request.get(RESPONSE_STARTED):
            # Half a response is out: end the connection rather than append another one.
            if request.transport is not None:
                request.transport.abort()
            raise
        return problem(500, "internal_error", "internal error; see the server log")


@web.middleware
async def input_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse, before routing, what no handler can use: paths or queries with lone surrogates
    or NUL, and compressed request bodies (the API takes JSON and archives as they are, so a
    bad or truncated ``Content-Encoding`` is never half-decoded)."""
    text = request.path + "".join(f"{k}{v}" for k, v in request.query.items())
    if "\0" in text or any("\ud800" <= c <= "\udfff" for c in text):
        return problem(400, "bad_path", "the URL contains characters no name can hold")
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        return problem(415, "unsupported_encoding", "compressed request bodies are not accepted")
    return await handler(request)


SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


@web.middleware
async def same_origin_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse state-changing requests that a browser sends from another site (CSRF)."""
    if request.method not in SAFE_METHODS:
        site = request.headers.get("Sec-Fetch-Site")
        origin = request.headers.get("Origin")
        if site == "cross-site" or (origin and origin not in _own_origins(request)):
            return problem(403, "cross_origin", "cross-site requests may not change state")
    return await handler(request)


def _own_origins(request: web.Request) -> set[str]:
    host = request.headers.get("Host", "")
    return {f"http://{host}", f"https://{host}"}
