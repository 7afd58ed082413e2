"""The health monitor: probes every running tool concurrently, on the event loop.

Probes are asynchronous and bounded (``MACHETE_HEALTH_CONCURRENCY`` at once), so a round over
many tools takes about as long as the slowest probe, not the sum. Only changes of health are
stored (a per-tool history) and published as ``tool.health`` events.
"""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
from aiohttp import web

from machete_core.health import healthy_status
from machete_core.views import HealthTarget, ProbeResult
from machete_web.keys import EXECUTOR, HTTP_CLIENT, MACHETE, METRICS

PROBE_TIMEOUT_S = 5.0


async def _probe(session: aiohttp.ClientSession, target: HealthTarget) -> tuple[bool, str | None]:
    if target.base_url is None:
        return False, target.problem
    try:
        async with session.get(
            target.base_url + (target.path or "/"),
            timeout=aiohttp.ClientTimeout(total=PROBE_TIMEOUT_S),
        ) as resp:
            await resp.read()
            healthy = healthy_status(target.path, resp.status)
            return healthy, None if healthy else f"HTTP {resp.status}"
    except (aiohttp.ClientError, TimeoutError) as exc:
        return False, f"{type(exc).__name__}: {exc}".strip(": ")


async def monitor_round(app: web.Application) -> int:
    """One round over every running tool; returns how many tools changed health."""
    m = app[MACHETE]
    loop = asyncio.get_running_loop()
    targets = await loop.run_in_executor(app[EXECUTOR], m.health_targets)
    gate = asyncio.Semaphore(max(1, m.settings.health_concurrency))

    async def one(target: HealthTarget) -> ProbeResult:
        async with gate:
            started = time.perf_counter()
            healthy, detail = await _probe(app[HTTP_CLIENT], target)
            if METRICS in app:
                app[METRICS].observe_probe(healthy, time.perf_counter() - started)
        return ProbeResult(target, healthy, detail)

    results = await asyncio.gather(*(one(t) for t in targets))
    # One trip to the pool for the whole round: most results change nothing, and a trip per
    # tool cost more than the probes at a thousand tools.
    return await loop.run_in_executor(app[EXECUTOR], m.record_health, results)


#: Across servers on one database, one monitors; another takes over after this many silent
#: intervals of the one that held it.
log = logging.getLogger(__name__)
LOCK = "health-monitor"
LOCK_INTERVALS = 3


async def run_monitor(app: web.Application) -> None:
    m = app[MACHETE]
    interval = m.settings.health_check_interval
    if interval <= 0:
        return
    loop = asyncio.get_running_loop()
    holding = False
    while True:
        await asyncio.sleep(interval)
        try:
            mine = await loop.run_in_executor(
                app[EXECUTOR], m.try_lock, LOCK, interval * LOCK_INTERVALS
            )
            if not mine:
                holding = False
                continue  # another server monitors; probing twice would record changes twice
            if not holding:
                m.forget_health_cache()  # what it remembered may be stale by now
                holding = True
            await monitor_round(app)
        except Exception:  # one bad round must not end the monitor
            log.exception("health monitor round failed")
