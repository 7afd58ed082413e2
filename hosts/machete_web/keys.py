"""What the applications share, as typed ``AppKey``s, and the two ways a handler runs core
work: :func:`core` (one blocking call in the bounded pool) and :func:`run_in_background`
(an operation, on its own pool). Every module of the host imports these from here, never
from ``app.py``, so the application factory can import the route modules without a circle."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import aiohttp
import attrs
from aiohttp import web

from machete_core.domains import ListenerView
from machete_core.errors import MacheteError
from machete_core.machete import Machete
from machete_plugins.prometheus import PlatformMetrics
from machete_web.event_feed import EventFeed
from machete_web.listing import ListingCache
from machete_web.proxy.limits import ToolLimits
from machete_web.router import Router

T = TypeVar("T")

MACHETE = web.AppKey("machete", Machete)
EXECUTOR = web.AppKey("executor", ThreadPoolExecutor)
#: Where operations run (deploys, builds): never the threads that answer requests.
OPERATIONS = web.AppKey("operations", ThreadPoolExecutor)
BACKGROUND = web.AppKey("background", set[asyncio.Future[Any]])
#: Small asyncio tasks (route refreshes) that must not be garbage-collected mid-flight.
BACKGROUND_TASKS = web.AppKey("background_tasks", set[asyncio.Task[Any]])
ROUTER = web.AppKey("router", Router)
HTTP_CLIENT = web.AppKey("http_client", aiohttp.ClientSession)
EVENT_FEED = web.AppKey("event_feed", EventFeed)
LISTING = web.AppKey("listing", ListingCache[bytes])
METRICS = web.AppKey("metrics", PlatformMetrics)


@attrs.define
class ToolsListener:
    """Where the tools' own listener is, once it listens (redirects from the API point there),
    and, when it is a process of this server's (the built-in ingress), how that process is."""

    port: int = 0
    state: Callable[[], ListenerView] | None = None


TOOLS_LISTENER = web.AppKey("tools_listener", ToolsListener)

# The tools application's own keys: the platform app it serves for, and its clients.
PLATFORM = web.AppKey("platform", web.Application)
WS_CLIENT = web.AppKey("ws_client", aiohttp.ClientSession)
LIMITS = web.AppKey("tool_limits", ToolLimits)


def machete_of(request: web.Request) -> Machete:
    """The Machete of the request's application (the platform's, on the tools listener)."""
    app = request.app[PLATFORM] if PLATFORM in request.app else request.app
    return app[MACHETE]


async def core(request: web.Request, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run one blocking core call in the bounded pool (the platform's, on the tools listener)."""
    app = request.app[PLATFORM] if PLATFORM in request.app else request.app
    loop = asyncio.get_running_loop()
    # The request's log context (its id, actor, route) follows the work into the thread.
    context = contextvars.copy_context()
    return await loop.run_in_executor(
        app[EXECUTOR], functools.partial(context.run, fn, *args, **kwargs)
    )


def run_in_background(app: web.Application, fn: Callable[[], Any]) -> None:
    """Start long core work (an operation) on its own pool; the app waits for it at shutdown."""
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(app[OPERATIONS], contextvars.copy_context().run, fn)
    app[BACKGROUND].add(future)
    future.add_done_callback(app[BACKGROUND].discard)


def run_operation(app: web.Application, machete: Machete, op_id: str) -> None:
    """Run a submitted operation in the background (its outcome is recorded on it)."""

    def work() -> None:
        try:
            machete.run(op_id)
        except MacheteError:
            pass  # recorded on the operation; clients read it there

    run_in_background(app, work)
