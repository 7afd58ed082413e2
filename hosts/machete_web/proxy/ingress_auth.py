"""The server's answer to an external ingress's question "may this request reach this
tool?" (Caddy's ``forward_auth``), on a listener of its own: a unix socket in the state
directory by default, never the API's port and never reachable from a tool's container.

The same rules as the built-in proxy (``access.check``) decide, on the client's own
credentials, which Caddy passes along with the tool, the path and the client's address; the
ingress proves itself with the installation's ingress secret. A 2xx answer lets the request
through; anything else (401, 403, a redirect to sign in, a tools-origin session being set)
is what the client gets.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator

from aiohttp import web
from multidict import CIMultiDict

from machete_core.domain.naming import is_valid_name
from machete_core.routing import ingress_secret
from machete_web import problems
from machete_web.keys import MACHETE, PLATFORM
from machete_web.proxy import access
from machete_web.proxy.routing import Target

INGRESS_SECRET = web.AppKey("ingress_secret", str)


def create_ingress_auth_app(platform: web.Application) -> web.Application:
    app = web.Application(middlewares=[problems.error_middleware])
    app[PLATFORM] = platform
    app.cleanup_ctx.append(_secret)
    app.router.add_get("/authorize", authorize)
    return app


async def _secret(app: web.Application) -> AsyncIterator[None]:
    # One small file, read once at start-up.
    app[INGRESS_SECRET] = ingress_secret(app[PLATFORM][MACHETE].settings)
    yield


def _as_client_sent(request: web.Request) -> web.Request:
    """This request as the client sent it to the ingress: its scheme, host and address
    (believed here because the ingress proved who it is)."""
    headers = CIMultiDict(request.headers)
    host = request.headers.get("X-Forwarded-Host", "")
    if host:
        headers["Host"] = host
    proto = request.headers.get("X-Forwarded-Proto", "http")
    chain = [p.strip() for p in request.headers.get("X-Forwarded-For", "").split(",") if p.strip()]
    return request.clone(
        scheme="https" if proto == "https" else "http",
        host=host or request.host,
        headers=headers,
        remote=chain[-1] if chain else (request.remote or "?"),
    )


async def authorize(request: web.Request) -> web.StreamResponse:
    offered = request.headers.get("X-Machete-Ingress", "")
    if not hmac.compare_digest(offered.encode(), request.app[INGRESS_SECRET].encode()):
        return problems.problem(403, "forbidden", "not this installation's ingress")
    tool = request.headers.get("X-Machete-Tool", "")
    if not is_valid_name(tool):
        return problems.problem(404, "not_found", "no such tool")
    uri = request.headers.get("X-Forwarded-Uri", "/") or "/"
    prefix = request.headers.get("X-Machete-Prefix", "")
    if prefix:
        if prefix != f"/tools/{tool}" or not uri.startswith(prefix):
            return problems.problem(404, "not_found", "no such tool")
        uri = uri[len(prefix) :]
        uri = uri if uri.startswith("/") else "/" + uri
    target = Target(tool=tool, raw_path=uri, prefix=prefix)
    client = _as_client_sent(request)
    if uri.partition("?")[0] == access.SESSION_PATH:
        return await access.redeem(client, target)
    refused = await access.check(client, target)
    if refused is not None:
        return refused
    return web.Response(status=204)
