"""The application factory. No globals: the Machete and the worker pool live on the app."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import aiohttp
import attrs
from aiohttp import web

from machete_core.errors import StateMissingError
from machete_core.machete import Machete, create_machete
from machete_core.settings import Settings
from machete_web import problems
from machete_web.event_feed import EventFeed
from machete_web.listing import ListingCache
from machete_web.router import Router

MACHETE = web.AppKey("machete", Machete)
EXECUTOR = web.AppKey("executor", ThreadPoolExecutor)
#: Where operations run (deploys, builds): never the threads that answer requests.
OPERATIONS = web.AppKey("operations", ThreadPoolExecutor)
BACKGROUND = web.AppKey("background", set[asyncio.Future[Any]])
ROUTER = web.AppKey("router", Router)
HTTP_CLIENT = web.AppKey("http_client", aiohttp.ClientSession)
EVENT_FEED = web.AppKey("event_feed", EventFeed)
LISTING = web.AppKey("listing", ListingCache)


@attrs.define
class ToolsListener:
    """Where the tools' own listener is, once it listens (redirects from the API point there)."""

    port: int = 0


TOOLS_LISTENER = web.AppKey("tools_listener", ToolsListener)
#: Small asyncio tasks (route refreshes) that must not be garbage-collected mid-flight.
BACKGROUND_TASKS = web.AppKey("background_tasks", set[asyncio.Task[Any]])
T = TypeVar("T")
log = logging.getLogger(__name__)

MAX_JSON_BODY = 1024 * 1024


def create_app(
    settings: Settings | None = None, *, machete: Machete | None = None
) -> web.Application:
    """Build the app; pass ``machete`` to share one you own (tests), else one is created."""
    from machete_web import hosts

    app = web.Application(
        middlewares=[
            hosts.allowed_host_middleware(tools=False),
            problems.error_middleware,
            problems.input_middleware,
            problems.same_origin_middleware,
        ],
        client_max_size=MAX_JSON_BODY,
    )
    app[TOOLS_LISTENER] = ToolsListener()
    app.cleanup_ctx.append(functools.partial(_machete_ctx, settings=settings, machete=machete))
    from machete_web import routes_api, routes_dashboard, routes_events, routes_tools_redirect

    routes_api.setup(app)
    routes_events.setup(app)
    routes_dashboard.setup(app)
    routes_tools_redirect.setup(app)
    return app


async def _machete_ctx(
    app: web.Application, *, settings: Settings | None, machete: Machete | None
) -> AsyncIterator[None]:
    owned = machete is None
    if machete is None:
        from machete_plugins import BUILTIN_PLUGINS

        machete = create_machete(settings, builtins=BUILTIN_PLUGINS)
    executor = ThreadPoolExecutor(
        max_workers=machete.settings.workers, thread_name_prefix="machete-core"
    )
    app[MACHETE] = machete
    app[EXECUTOR] = executor
    operations = ThreadPoolExecutor(
        max_workers=max(4, machete.settings.workers * 4), thread_name_prefix="machete-op"
    )
    app[OPERATIONS] = operations
    app[BACKGROUND] = set()
    app[BACKGROUND_TASKS] = set()
    app[ROUTER] = Router(machete, machete.settings.route_cache_seconds)
    app[ROUTER].attach(asyncio.get_running_loop())
    app[EVENT_FEED] = EventFeed(machete, executor)
    # Promotions by other processes on the same state reach the router through the feed.
    app[EVENT_FEED].listen(app[ROUTER].on_recorded_event)
    app[LISTING] = ListingCache(machete, executor)
    # This process's changes bump the store's generation; other processes' reach us as events.
    app[EVENT_FEED].listen(app[LISTING].changed)
    # Tools answer on loopback; never through a proxy from the environment.
    app[HTTP_CLIENT] = aiohttp.ClientSession(
        trust_env=False,
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=5),
        # No shared cap: the tools listener bounds connections per tool (ToolLimits), so one
        # hanging tool cannot take every slot.
        connector=aiohttp.TCPConnector(limit=0, force_close=False),
        auto_decompress=False,
    )
    loop = asyncio.get_running_loop()
    # Open the store (and run migrations) and reconcile once before serving, off the event loop.
    await loop.run_in_executor(executor, lambda: machete.store)
    await loop.run_in_executor(executor, _reconcile_logged, machete)
    from machete_web.health_monitor import run_monitor
    from machete_web.watcher import EngineWatcher

    watcher = EngineWatcher(machete)
    watcher.start()
    periodic = asyncio.create_task(_reconcile_periodically(machete, executor))
    monitor = asyncio.create_task(run_monitor(app))
    feed = asyncio.create_task(app[EVENT_FEED].run())
    yield
    await loop.run_in_executor(None, watcher.close)
    periodic.cancel()
    monitor.cancel()
    feed.cancel()
    pending_tasks: set[asyncio.Task[Any]] = app[BACKGROUND_TASKS]
    for task in list(pending_tasks):
        task.cancel()
    machete.cancel_all()
    if app[BACKGROUND]:
        await asyncio.gather(*app[BACKGROUND], return_exceptions=True)
    executor.shutdown(wait=True)
    operations.shutdown(wait=True)
    await app[HTTP_CLIENT].close()
    if owned:
        machete.close()


def _reconcile_logged(machete: Machete) -> None:
    try:
        report = machete.reconcile()
    except StateMissingError:
        raise  # the server must not start on a lost database (see reconcile.py)
    except Exception:
        log.exception("reconciler round failed")
        return
    if any(attrs.astuple(report)):
        log.info("reconciler: %s", attrs.asdict(report))


async def _reconcile_periodically(machete: Machete, executor: ThreadPoolExecutor) -> None:
    interval = machete.settings.reconcile_interval
    if interval <= 0:
        return
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(interval)
        await loop.run_in_executor(executor, _reconcile_logged, machete)


async def core(request: web.Request, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run one blocking core call in the bounded pool."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(request.app[EXECUTOR], functools.partial(fn, *args, **kwargs))


def run_in_background(app: web.Application, fn: Callable[[], Any]) -> None:
    """Start long core work (an operation) on its own pool; the app waits for it at shutdown."""
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(app[OPERATIONS], fn)
    app[BACKGROUND].add(future)
    future.add_done_callback(app[BACKGROUND].discard)
