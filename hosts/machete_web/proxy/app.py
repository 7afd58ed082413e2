"""The tools application: which tool a request is for (by host, else by path), and routing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import attrs
from aiohttp import web

from machete_core.errors import MacheteError
from machete_core.settings import Settings
from machete_core.views import Route
from machete_web import hosts, problems
from machete_web.app import BACKGROUND_TASKS, EXECUTOR, MACHETE, ROUTER

PLATFORM = web.AppKey("platform", web.Application)
WS_CLIENT = web.AppKey("ws_client", aiohttp.ClientSession)


@attrs.frozen
class Target:
    """One request's tool and the path it is forwarded with (raw, exactly as received)."""

    tool: str
    raw_path: str
    prefix: str


class ToolLimits:
    """Connections to one tool at once, so one hanging tool never starves the others."""

    def __init__(self, per_tool: int) -> None:
        self.per_tool = per_tool
        self._slots: dict[str, asyncio.Semaphore] = {}

    def slots(self, tool: str) -> asyncio.Semaphore:
        slot = self._slots.get(tool)
        if slot is None:
            slot = self._slots[tool] = asyncio.Semaphore(self.per_tool)
        return slot


LIMITS = web.AppKey("tool_limits", ToolLimits)


def create_tools_app(platform: web.Application) -> web.Application:
    """The tools' listener, reading the platform's state (Machete, router, pool) from the API
    application ``platform``, which must be started first."""
    app = web.Application(
        middlewares=[hosts.allowed_host_middleware(tools=True), problems.error_middleware],
        # Bodies stream through; nothing is read whole.
        client_max_size=1024**4,
    )
    app[PLATFORM] = platform
    app.cleanup_ctx.append(_clients)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


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


def target_for(request: web.Request, settings: Settings) -> Target | None:
    """``<tool>.<tools_domain>`` routes the whole path to the tool; else ``/tools/<tool>/``."""
    raw = request.raw_path
    tool = hosts.tool_from_host(request.host, settings.tools_domain)
    if tool is not None:
        return Target(tool=tool, raw_path=raw if raw.startswith("/") else "/" + raw, prefix="")
    path, sep, query = raw.partition("?")
    if not path.startswith("/tools/"):
        return None
    rest = path[len("/tools/") :]
    name, _slash, tail = rest.partition("/")
    if not name or "%" in name:
        return None
    return Target(tool=name, raw_path="/" + tail + sep + query, prefix=f"/tools/{name}")


async def handle(request: web.Request) -> web.StreamResponse:
    from machete_web.proxy import forward, websocket

    platform = request.app[PLATFORM]
    settings = platform[MACHETE].settings
    target = target_for(request, settings)
    if target is None:
        # The tools' origin serves tools only: never the API or the dashboard.
        return problems.problem(404, "not_found", "no tool here: tools live at /tools/<name>/")
    if target.prefix and settings.tools_domain and _is_browser_navigation(request):
        # Each tool has an origin of its own: a page never runs on the shared path origin.
        url = hosts.tool_url(request, settings, target.tool, target.raw_path)
        raise web.HTTPTemporaryRedirect(url)
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return await websocket.proxy_websocket(request, target)
    return await forward.proxy_http(request, target)


def _is_browser_navigation(request: web.Request) -> bool:
    return request.headers.get("Sec-Fetch-Mode", "") == "navigate"


async def route(request: web.Request, tool: str, fresh: bool = False) -> Route:
    """Where ``tool`` runs. A route older than the cache time is still used while a fresh one
    is looked up in the background, so requests never wait on the engine; a switch of
    release invalidates the entry at once (events), and a refused connection asks afresh."""
    platform = request.app[PLATFORM]
    router = platform[ROUTER]
    if fresh:
        router.forget(tool)
    cached = router.cached(tool)
    if cached is not None:
        return cached
    stale = router.stale(tool)
    loop = asyncio.get_running_loop()
    if stale is None:
        found = await loop.run_in_executor(platform[EXECUTOR], platform[MACHETE].route, tool)
        router.remember(found)
        return found
    if not router.refreshing(tool):
        task = asyncio.create_task(_refresh(platform, tool))
        platform[BACKGROUND_TASKS].add(task)
        task.add_done_callback(platform[BACKGROUND_TASKS].discard)
    return stale


async def _refresh(platform: web.Application, tool: str) -> None:
    router = platform[ROUTER]
    try:
        loop = asyncio.get_running_loop()
        found = await loop.run_in_executor(platform[EXECUTOR], platform[MACHETE].route, tool)
        router.remember(found)
    except MacheteError:
        router.forget(tool)  # gone or stopped: the next request finds out and says so
    finally:
        router.refreshed(tool)
