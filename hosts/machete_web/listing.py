"""``GET /api/tools`` from a rendered body kept while nothing it shows can have changed.

The body is rebuilt (in the pool, one build at a time however many requests wait) when this
process wrote to the store, observed an instance change, heard a lifecycle event of any process
(the event feed), or at the latest after ``ttl`` seconds, which bounds how stale a change made
behind MACHETE's back can be. Everything else is answered from memory on the event loop.
"""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from machete_core.machete import Machete
from machete_core.views import to_data


class ListingCache:
    def __init__(self, machete: Machete, executor: ThreadPoolExecutor, ttl: float = 1.0) -> None:
        self.machete = machete
        self.executor = executor
        self.ttl = ttl
        self._events = 0
        self._body: bytes | None = None
        self._key: tuple[int, int, int] | None = None
        self._at = 0.0
        self._building: asyncio.Future[bytes] | None = None

    def changed(self, *_event: Any) -> None:
        """A lifecycle event (any process): what a listing shows may have changed."""
        self._events += 1

    def _current_key(self) -> tuple[int, int, int]:
        return (*self.machete.state_generation(), self._events)

    async def body(self) -> bytes:
        key = self._current_key()
        if self._body is not None and self._key == key and time.monotonic() - self._at < self.ttl:
            return self._body
        if self._building is None:
            self._building = asyncio.ensure_future(self._build(key))
        building = self._building
        try:
            return await asyncio.shield(building)
        finally:
            if building.done() and self._building is building:
                self._building = None

    async def _build(self, key: tuple[int, int, int]) -> bytes:
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        body = await loop.run_in_executor(self.executor, self._render)
        # Kept under the key read before building: a change meanwhile rebuilds next time.
        self._body, self._key, self._at = body, key, started
        return body

    def _render(self) -> bytes:
        return json.dumps({"tools": to_data(self.machete.list_tools())}).encode()
