"""The server's deploy triggers: every few seconds, queued push deploys whose tool is free
start, and polled tools that are due are resolved (``machete_core.triggers.polling``)."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from machete_core.machete import Machete
from machete_core.triggers.polling import Triggers
from machete_web.keys import EXECUTOR, MACHETE, run_operation

log = logging.getLogger(__name__)
ROUND_S = 2.0


async def run_triggers(app: web.Application, interval: float = ROUND_S) -> None:
    m: Machete = app[MACHETE]
    triggers = Triggers(m.core)
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(interval)
        try:
            started = await loop.run_in_executor(app[EXECUTOR], triggers.round)
        except Exception:  # one bad round must not end the loop
            log.exception("deploy trigger round failed")
            continue
        for op in started:
            run_operation(app, m, op.id)
