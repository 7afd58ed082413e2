"""Where each tool's requests go: a short cache over ``Machete.route``.

Deploys in this process invalidate a tool's entry through the event bus at the moment of the
switch; deploys from other processes (the CLI) through the event feed a moment later, and at
the latest within ``route_cache_seconds``, which is shorter than the drain time, so the old
instance still answers meanwhile.
"""

from __future__ import annotations

import asyncio
import time

from machete_core.domain.records import Event
from machete_core.machete import Machete
from machete_core.state.views import EventRecord
from machete_core.views import Route

#: Events after which a tool's cached route is stale (its access rides on the route).
ROUTE_CHANGES = frozenset({"release.live", "tool.stopped", "tool.removed", "tool.access"})


class Router:
    def __init__(self, machete: Machete, ttl: float) -> None:
        self.machete = machete
        self.ttl = ttl
        self._cache: dict[str, tuple[float, Route]] = {}
        self._refreshing: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.machete.events.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        # Events arrive on worker threads; the cache belongs to the event loop.
        if event.kind in ROUTE_CHANGES and event.tool:
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._cache.pop, event.tool, None)

    def on_recorded_event(self, event: EventRecord) -> None:
        """The same, for events of every process (called on the event loop by the feed)."""
        if event.kind in ROUTE_CHANGES and event.tool:
            self._cache.pop(event.tool, None)

    def cached(self, tool: str) -> Route | None:
        entry = self._cache.get(tool)
        if entry and time.monotonic() - entry[0] < self.ttl:
            return entry[1]
        return None

    def stale(self, tool: str) -> Route | None:
        """The last known route however old (to serve while a fresh one is looked up)."""
        entry = self._cache.get(tool)
        return entry[1] if entry else None

    def refreshing(self, tool: str) -> bool:
        """True if a refresh of ``tool`` is already under way; else mark one as started."""
        if tool in self._refreshing:
            return True
        self._refreshing.add(tool)
        return False

    def refreshed(self, tool: str) -> None:
        self._refreshing.discard(tool)

    def remember(self, route: Route) -> None:
        self._cache[route.tool] = (time.monotonic(), route)

    def forget(self, tool: str) -> None:
        self._cache.pop(tool, None)
