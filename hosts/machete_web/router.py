"""Where each tool's requests go: a short cache over ``Machete.route``.

Deploys in this process invalidate a tool's entry through the event bus at the moment of the
switch (the server's tools listener is told the new route itself, so no request after a switch
waits on a lookup); deploys from other processes (the CLI) through the event feed a moment
later, and at the latest within ``route_cache_seconds``, which is shorter than the drain time,
so the old instance still answers meanwhile. A lookup that was under way when the route
changed is not remembered: it may have found the superseded route.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from cattrs.errors import BaseValidationError

from machete_core.domain.records import Event
from machete_core.machete import Machete
from machete_core.manifest.converter import converter
from machete_core.state.views import EventRecord
from machete_core.views import Route

log = logging.getLogger(__name__)

#: Events after which a tool's cached route is stale (its access rides on the route).
ROUTE_CHANGES = frozenset({"release.live", "tool.stopped", "tool.removed", "tool.access"})


class Router:
    def __init__(self, machete: Machete, ttl: float) -> None:
        self.machete = machete
        self.ttl = ttl
        self._cache: dict[str, tuple[float, Route]] = {}
        self._refreshing: set[str] = set()
        #: Times each tool's route was forgotten: a lookup that began before the last time
        #: found what was superseded meanwhile and is not remembered.
        self._changes: dict[str, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.machete.events.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        # Events arrive on worker threads; the cache belongs to the event loop.
        if event.kind in ROUTE_CHANGES and event.tool:
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self.heard, event.kind, event.tool, event.data)

    def on_recorded_event(self, event: EventRecord) -> None:
        """The same, for events of every process (called on the event loop by the feed)."""
        if event.kind in ROUTE_CHANGES and event.tool:
            self.heard(event.kind, event.tool, event.data)

    def heard(self, kind: str, tool: str, data: Mapping[str, Any]) -> None:
        """A change of ``tool``'s route. A release going live may come with its route (the
        server tells its listener so): it is used at once, with no lookup. Each release goes
        live once (a rollback makes a new one), so a cached route of the release an event
        names was looked up after the switch (the event is a second copy, from the log) and
        stays."""
        if kind == "release.live":
            told = data.get("route")
            if isinstance(told, dict):
                try:
                    route = converter().structure(told, Route)
                except (BaseValidationError, KeyError, TypeError, ValueError):
                    route = None
                if route is not None and route.tool == tool:
                    self.forget(tool)
                    self.remember(route)
                    return
                log.warning("a told route of %s could not be read: %.200r", tool, told)
            entry = self._cache.get(tool)
            if entry is not None and entry[1].release == data.get("release"):
                return
        self.forget(tool)

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

    def mark(self, tool: str) -> int:
        """Where ``tool``'s changes stand: give it to :meth:`remember` with what a lookup
        begun now finds."""
        return self._changes.get(tool, 0)

    def remember(self, route: Route, since: int | None = None) -> None:
        if since is not None and self._changes.get(route.tool, 0) != since:
            return  # the route changed while it was looked up: the next request asks again
        self._cache[route.tool] = (time.monotonic(), route)

    def forget(self, tool: str) -> None:
        self._cache.pop(tool, None)
        self._changes[tool] = self._changes.get(tool, 0) + 1
