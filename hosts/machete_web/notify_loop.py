"""The server's notifications: every ``MACHETE_NOTIFY_INTERVAL`` seconds, what the outbox has
due is sent (``machete_core.notify.outbox``); about hourly, tokens close to expiry are told
and each channel's old notifications beyond the newest 500 are dropped."""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web

from machete_core.machete import Machete
from machete_web.keys import EXECUTOR, MACHETE

log = logging.getLogger(__name__)
TOKENS_EVERY_S = 3600.0
#: One server looks for expiring tokens at a time (each token is told once anyway).
TOKENS_LOCK = "token-expiry"


async def run_notifications(app: web.Application) -> None:
    m: Machete = app[MACHETE]
    interval = m.settings.notify_interval
    if interval <= 0:
        return
    notifier = m.core.notifier
    loop = asyncio.get_running_loop()
    tokens_checked = 0.0
    while True:
        await asyncio.sleep(interval)
        try:
            if time.monotonic() - tokens_checked > TOKENS_EVERY_S:
                tokens_checked = time.monotonic()
                if await loop.run_in_executor(
                    app[EXECUTOR], m.try_lock, TOKENS_LOCK, TOKENS_EVERY_S
                ):
                    await loop.run_in_executor(app[EXECUTOR], notifier.check_expiring_tokens)
                    await loop.run_in_executor(app[EXECUTOR], m.store.prune_outbox)
            await loop.run_in_executor(app[EXECUTOR], notifier.send_due)
        except Exception:  # one bad round must not end the loop
            log.exception("notification round failed")
