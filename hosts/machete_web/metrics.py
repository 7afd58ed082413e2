"""``GET /metrics``: the Prometheus exposition, from loopback or with the ``metrics.read``
right (a ``metrics:read`` token). The metrics object lives on the app (``METRICS``); its event
observer is registered on the Machete's plugin manager while the app runs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

from aiohttp import web

from machete_core.errors import MacheteError
from machete_core.machete import Machete
from machete_core.observe import BUILD_KINDS, tool_view
from machete_core.version import __version__
from machete_plugins.prometheus import PlatformMetrics, ToolSample
from machete_plugins.prometheus.metrics import CONTENT_TYPE
from machete_web.keys import EXECUTOR, MACHETE, METRICS
from machete_web.problems import problem

log = logging.getLogger(__name__)
PATH = "/metrics"
#: The name the observer is registered under (a part of the server: not listed).
PLUGIN_NAME = "metrics"


def sample_tools(machete: Machete) -> list[ToolSample]:
    core = machete.core
    tools, current, building = core.store.listing(BUILD_KINDS)
    # What the health monitor (of whichever server holds it) recorded last.
    checked = core.store.last_health_states()
    samples = []
    for tool in tools:
        release = current.get(tool.id)
        view = tool_view(core, tool, release, tool.name in building, probe_health=False)
        samples.append(
            ToolSample(
                name=tool.name,
                status=view.status,
                health=checked.get(tool.id) if view.status == "running" else None,
                release=view.release,
                commit=view.commit,
                deployed_at=(release.finished_at or release.created_at) if release else None,
            )
        )
    return samples


def setup(app: web.Application, machete: Machete) -> None:
    database = (
        machete.settings.effective_database_url.partition(":")[0].partition("+")[0] or "sqlite"
    )
    app[METRICS] = PlatformMetrics(
        version=__version__,
        database=database,
        sample_tools=lambda: sample_tools(machete),
        enabled=machete.settings.metrics,
    )
    app.router.add_get(PATH, metrics_page)
    app.cleanup_ctx.append(_observe_events)


async def _observe_events(app: web.Application) -> AsyncIterator[None]:
    plugins = app[MACHETE].plugins
    mine = app[METRICS].enabled and not plugins.is_registered(PLUGIN_NAME)
    if mine:
        plugins.register(app[METRICS].observer, PLUGIN_NAME, builtin=True, listed=False)
    elif app[METRICS].enabled:  # another app on the same Machete (tests) observes already
        log.warning("a metrics observer is registered already; this app's counts miss events")
    yield
    if mine:
        plugins.unregister(PLUGIN_NAME)


#: Answers to a device-code poll that are not an attempt that failed.
_NOT_YET = frozenset({"authorization_pending", "slow_down"})


@contextmanager
def sign_in_attempt(request: web.Request, method: str) -> Iterator[None]:
    """Count a sign-in with a password (or a device code) by its outcome."""
    metrics = request.app[METRICS]
    try:
        yield
    except MacheteError as exc:
        if exc.code == "totp_required":
            metrics.auth_attempt(method, "second_factor")
        elif exc.code not in _NOT_YET:
            metrics.auth_attempt(method, "failed")
        raise
    metrics.auth_attempt(method, "ok")


async def metrics_page(request: web.Request) -> web.Response:
    # Who may read is decided before (authn: loopback, or the metrics.read right).
    if not request.app[METRICS].enabled:
        return problem(404, "not_found", "metrics are off here (MACHETE_METRICS=false)")
    loop = asyncio.get_running_loop()
    body = await loop.run_in_executor(request.app[EXECUTOR], request.app[METRICS].render)
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE
    response.headers["Cache-Control"] = "no-store"
    return response
