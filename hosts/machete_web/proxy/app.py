"""The tools application: one handler that sends each request on to its tool."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from machete_core import log_context
from machete_core.domain.naming import is_valid_name
from machete_web import hosts, problems
from machete_web.keys import LIMITS, MACHETE, METRICS, PLATFORM, WS_CLIENT
from machete_web.proxy import access, forward, websocket
from machete_web.proxy.limits import ToolLimits
from machete_web.proxy.routing import target_for
from machete_web.request_log import echo_request_id, request_middleware


def create_tools_app(platform: web.Application) -> web.Application:
    """The tools' listener, reading the platform's state (Machete, router, pool) from the API
    application ``platform``, which must be started first."""
    app = web.Application(
        middlewares=[
            request_middleware(lambda _request: None, _observe, tools=True),
            hosts.allowed_host_middleware(tools=True),
            problems.error_middleware,
        ],
        # Bodies stream through; nothing is read whole.
        client_max_size=1024**4,
    )
    app[PLATFORM] = platform
    app.on_response_prepare.append(echo_request_id)
    app.cleanup_ctx.append(_clients)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def _observe(request: web.Request, _route: str | None, status: int | None, seconds: float) -> None:
    tool = request.get(forward.ROUTED_TOOL, "")
    request.app[PLATFORM][METRICS].observe_proxy(tool, request.method, status, seconds)


async def _clients(app: web.Application) -> AsyncIterator[None]:
    settings = app[PLATFORM][MACHETE].settings
    app[LIMITS] = ToolLimits(settings.proxy_tool_connections)
    # WebSocket handshakes get a session of their own that never follows a redirect: a tool
    # must not be able to point the proxy at an address it cannot reach itself.
    app[WS_CLIENT] = aiohttp.ClientSession(
        trust_env=False,
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=None),
        middlewares=(_refuse_redirects,),
        auto_decompress=False,
    )
    yield
    await app[WS_CLIENT].close()


class UpstreamRedirectError(aiohttp.ClientError):
    """The tool answered a WebSocket handshake with a redirect (never followed)."""


async def _refuse_redirects(
    req: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    resp = await handler(req)
    if 300 <= resp.status < 400:
        resp.release()
        raise UpstreamRedirectError(f"redirect {resp.status}")
    return resp


async def handle(request: web.Request) -> web.StreamResponse:
    platform = request.app[PLATFORM]
    settings = platform[MACHETE].settings
    target = target_for(request, settings)
    if target is None:
        # The tools' origin serves tools only: never the API or the dashboard.
        return problems.problem(404, "not_found", "no tool here: tools live at /tools/<name>/")
    if is_valid_name(target.tool):
        log_context.bind(tool=target.tool)  # undone by the request middleware
    if target.prefix and settings.tools_domain and _is_browser_navigation(request):
        # Each tool has an origin of its own: a page never runs on the shared path origin.
        url = hosts.tool_url(request, settings, target.tool, target.raw_path)
        raise web.HTTPTemporaryRedirect(url)
    if target.raw_path.partition("?")[0] == access.SESSION_PATH:
        return await access.redeem(request, target)
    refused = await access.check(request, target)
    if refused is not None:
        return refused
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return await websocket.proxy_websocket(request, target)
    return await forward.proxy_http(request, target)


def _is_browser_navigation(request: web.Request) -> bool:
    return request.headers.get("Sec-Fetch-Mode", "") == "navigate"
