"""Listings of every tool (``GET /api/tools``'s body, the dashboard's tool cards) kept while
nothing they show can have changed.

A listing is rebuilt (in the pool, one build at a time however many requests wait) when this
process wrote to the store, observed an instance change, heard a lifecycle event of any process
(the event feed), or at the latest after ``ttl`` seconds, which bounds how stale a change made
behind MACHETE's back can be. Everything else is answered from memory on the event loop. Only
principals who see every tool are answered from it (a listing is of every tool).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

from machete_core.machete import Machete
from machete_core.views import to_data

T = TypeVar("T")


class ListingCache(Generic[T]):
    def __init__(
        self,
        machete: Machete,
        executor: ThreadPoolExecutor,
        render: Callable[[], T],
        ttl: float = 1.0,
    ) -> None:
        """``render`` (run in the pool) builds the listing from ``machete``."""
        self.machete = machete
        self.executor = executor
        self.ttl = ttl
        self._render = render
        self._events = 0
        self._value: T | None = None
        self._key: tuple[int, int, int] | None = None
        self._at = 0.0
        self._building: asyncio.Future[T] | None = None

    def changed(self, *_event: Any) -> None:
        """A lifecycle event (any process): what a listing shows may have changed."""
        self._events += 1

    def _current_key(self) -> tuple[int, int, int]:
        return (*self.machete.state_generation(), self._events)

    async def get(self) -> T:
        key = self._current_key()
        if self._value is not None and self._key == key and time.monotonic() - self._at < self.ttl:
            return self._value
        if self._building is None:
            self._building = asyncio.ensure_future(self._build(key))
        building = self._building
        try:
            return await asyncio.shield(building)
        finally:
            if building.done() and self._building is building:
                self._building = None

    async def _build(self, key: tuple[int, int, int]) -> T:
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        value = await loop.run_in_executor(self.executor, self._render)
        # Kept under the key read before building: a change meanwhile rebuilds next time.
        self._value, self._key, self._at = value, key, started
        return value


def api_listing(machete: Machete) -> bytes:
    """``GET /api/tools``'s body, of every tool."""
    return json.dumps({"tools": to_data(machete.list_tools())}).encode()
