"""The application factory. No globals: the Machete and the worker pools live on the app
(under the keys of ``keys.py``), set up and torn down by one ``cleanup_ctx``."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs
from aiohttp import web

from machete_core.errors import StateMissingError
from machete_core.machete import Machete, create_machete
from machete_core.settings import Settings
from machete_plugins import BUILTIN_PLUGINS
from machete_web import (
    api,
    authn,
    dashboard,
    hookspecs,
    hosts,
    ingress_host,
    metrics,
    problems,
    redirects,
    route_policy,
    versioning,
)
from machete_web.event_feed import EventFeed, forget_principals
from machete_web.health_monitor import run_monitor
from machete_web.keys import (
    BACKGROUND,
    BACKGROUND_TASKS,
    EVENT_FEED,
    EXECUTOR,
    HTTP_CLIENT,
    LISTING,
    MACHETE,
    METRICS,
    OPERATIONS,
    ROUTER,
    TOOLS_LISTENER,
    ToolsListener,
)
from machete_web.listing import ListingCache, api_listing
from machete_web.notify_loop import run_notifications
from machete_web.proxy.clients import tool_client
from machete_web.request_log import echo_request_id, request_middleware
from machete_web.router import Router
from machete_web.trigger_loop import run_triggers
from machete_web.watcher import EngineWatcher

log = logging.getLogger(__name__)

MAX_JSON_BODY = 1024 * 1024


def create_app(
    settings: Settings | None = None, *, machete: Machete | None = None
) -> web.Application:
    """Build the app; pass ``machete`` to share one you own (tests), else one is created (and
    closed with the app). Nothing is opened until the app starts."""
    owned = machete is None
    if machete is None:
        machete = create_machete(settings, builtins=BUILTIN_PLUGINS)
    app = web.Application(
        middlewares=[
            request_middleware(_route_template, _observe_request),
            hosts.allowed_host_middleware(tools=False),
            dashboard.page_middleware,
            problems.error_middleware,
            problems.input_middleware,
            versioning.api_version_middleware,
            authn.cors_middleware,
            # Before the plain same-origin check: a signed-in cross-site attempt is audited.
            authn.auth_middleware,
            problems.same_origin_middleware,
        ],
        client_max_size=MAX_JSON_BODY,
    )
    app[MACHETE] = machete
    app[TOOLS_LISTENER] = ToolsListener()
    app[authn.LIMITER] = authn.RateLimiter(machete.settings.api_rate, machete.settings.api_burst)
    app[route_policy.PLUGIN_ROUTES] = {}
    app.on_response_prepare.append(echo_request_id)
    metrics.setup(app, machete)
    app.cleanup_ctx.append(functools.partial(_machete_ctx, owned=owned))
    versioning.setup(app)
    api.setup(app)
    dashboard.setup(app)
    redirects.setup(app)
    _plugin_routes(app, machete)
    return app


def _route_template(request: web.Request) -> str | None:
    key = route_policy.route_key(request)
    return key[1] if key is not None else None


def _observe_request(
    request: web.Request, route: str | None, status: int | None, seconds: float
) -> None:
    request.app[METRICS].observe_api(route, request.method, status, seconds)


def _plugin_routes(app: web.Application, machete: Machete) -> None:
    machete.plugins.add_hookspecs(hookspecs)
    taken = {
        (route.method, resource.canonical)
        for resource in app.router.resources()
        for route in resource
    }
    for plugin, routes in machete.plugins.call_host_hook("machete_web_routes"):
        for route in routes or ():
            if (route.method, route.path) in taken:
                log.warning("plugin %s: %s %s is taken; skipped", plugin, route.method, route.path)
                continue
            app.router.add_route(route.method, route.path, route.handler)
            taken.add((route.method, route.path))
            app[route_policy.PLUGIN_ROUTES][(route.method, route.path)] = route.action


async def _machete_ctx(app: web.Application, *, owned: bool) -> AsyncIterator[None]:
    machete = app[MACHETE]
    executor = ThreadPoolExecutor(
        max_workers=machete.settings.workers, thread_name_prefix="machete-core"
    )
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
    app[LISTING] = ListingCache(machete, executor, functools.partial(api_listing, machete))
    # This process's changes bump the store's generation; other processes' reach us as events.
    app[EVENT_FEED].listen(app[LISTING].changed)
    # Another process changed roles, tokens or sessions: drop the principals resolved here.
    app[EVENT_FEED].listen(forget_principals(machete))
    app[HTTP_CLIENT] = tool_client()
    loop = asyncio.get_running_loop()
    # Open the store (and run migrations) and reconcile once before serving, off the event loop.
    await loop.run_in_executor(executor, machete.check_database)
    # A data plane the server runs (managed Caddy) is up before the first round publishes
    # the routes, and gets them all again each time it is restarted.
    supervised = await loop.run_in_executor(
        executor, ingress_host.start, machete, functools.partial(_reconcile_logged, machete)
    )
    await loop.run_in_executor(executor, _reconcile_logged, machete)
    setup_token = await loop.run_in_executor(executor, machete.auth.write_setup_token)
    if setup_token is not None:
        log.warning(
            "no owner yet: a one-time setup token (valid for an hour) is in %s; use it with "
            "POST /api/auth/setup, or run `machete users add NAME --role owner` on this host",
            setup_token,
        )
    watcher = EngineWatcher(machete)
    watcher.start()
    periodic = asyncio.create_task(_reconcile_periodically(machete, executor))
    monitor = asyncio.create_task(run_monitor(app))
    triggers = asyncio.create_task(run_triggers(app))
    notifications = asyncio.create_task(run_notifications(app))
    feed = asyncio.create_task(app[EVENT_FEED].run())
    yield
    await loop.run_in_executor(None, watcher.close)
    periodic.cancel()
    monitor.cancel()
    triggers.cancel()
    notifications.cancel()
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
    if supervised is not None:
        await loop.run_in_executor(None, supervised.stop)
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
