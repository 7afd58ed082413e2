"""The event feed: one reader of the database's event log, fanned out to every follower.

Events are recorded by whichever process made them (the CLI beside the server, another server
on the same PostgreSQL), so the server follows the log rather than its own bus: one poll per
interval however many WebSocket clients listen, and each client gets its own bounded queue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from machete_core.machete import Machete
from machete_core.state.views import EventRecord

log = logging.getLogger(__name__)

POLL_S = 0.3
QUEUE_SIZE = 1000


class EventFeed:
    def __init__(self, machete: Machete, executor: ThreadPoolExecutor) -> None:
        self.machete = machete
        self.executor = executor
        self.last_id = 0
        #: Set once the feed reads from its starting point: events after it reach listeners.
        self.ready = asyncio.Event()
        self._queues: set[asyncio.Queue[EventRecord]] = set()
        self._listeners: list[Callable[[EventRecord], None]] = []

    def subscribe(self) -> asyncio.Queue[EventRecord]:
        queue: asyncio.Queue[EventRecord] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[EventRecord]) -> None:
        self._queues.discard(queue)

    def listen(self, listener: Callable[[EventRecord], None]) -> None:
        """Call ``listener`` on the event loop for every event (e.g. the router's cache)."""
        self._listeners.append(listener)

    async def backlog(self, after_id: int, limit: int = 500) -> list[EventRecord]:
        """Recorded events after ``after_id`` (a reconnecting client's resume point)."""
        loop = asyncio.get_running_loop()
        cursor = self.machete.event_cursor(after=after_id)
        events, _ = await loop.run_in_executor(self.executor, cursor.read, limit)
        return events

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        cursor = await loop.run_in_executor(self.executor, self.machete.event_cursor)
        self.last_id = cursor.after
        self.ready.set()
        while True:
            await asyncio.sleep(POLL_S)
            # Most polls find nothing new: those that can know it without a query skip the
            # pool thread and the query, which were most of an idle server's CPU and landed
            # on the proxied requests in flight.
            if not cursor.may_have_new():
                continue
            try:
                events, _ = await loop.run_in_executor(self.executor, cursor.read)
            except Exception:
                log.exception("reading the event log failed; trying again")
                continue
            for event in events:
                self.last_id = event.id
                self._publish(event)

    def tell(self, event: EventRecord) -> None:
        """An event heard before the log has it (the server tells its tools' listener of its
        own at once): the listeners act on it now; the log brings it again later."""
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("event listener failed")

    def _publish(self, event: EventRecord) -> None:
        self.tell(event)
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()  # a slow reader loses the oldest events, never the feed
            queue.put_nowait(event)


def forget_principals(machete: Machete) -> Callable[[EventRecord], None]:
    """A listener: another process changed roles, tokens or sessions (``access.changed``), so
    the principals ``machete`` resolved are dropped."""

    def listener(event: EventRecord) -> None:
        if event.kind == "access.changed":
            machete.auth.signals.heard()

    return listener
