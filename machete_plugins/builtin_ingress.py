"""The ``builtin`` ingress: the server's own aiohttp proxy on the tools port.

The proxy reads each tool's route from the database when a request comes (with a cache of
``route_cache_seconds`` that a release's event clears at once), so there is nothing to send
anywhere when a route changes: publishing only records, for this process, what was asked.
Draining waits the drain time, which covers requests in flight and any other process's
cache of the old route.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from machete_core.domain.records import Endpoint
from machete_core.domain.routes import PublishedRoute, RouteSet
from machete_core.plugins import hookimpl
from machete_core.plugins.records import IngressProvider
from machete_core.settings import Settings


class BuiltinIngress:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._published: dict[str, PublishedRoute] = {}

    def publish(self, route: RouteSet) -> None:
        seen = PublishedRoute(
            tool=route.tool,
            release=route.release,
            digest=route.digest,
            upstreams=route.upstreams,
            hosts=tuple(h.name for h in route.hosts),
        )
        with self._lock:
            self._published[route.tool] = seen

    def withdraw(self, tool: str) -> None:
        with self._lock:
            self._published.pop(tool, None)

    def published(self) -> list[PublishedRoute]:
        with self._lock:
            return sorted(self._published.values(), key=lambda p: p.tool)

    def drain(self, tool: str, upstreams: Sequence[Endpoint], seconds: float) -> None:
        # Other processes' proxies may hold the old route for their cache time: wait it all.
        time.sleep(max(0.0, seconds))

    def health(self) -> str | None:
        return None

    def serves_from_state(self) -> None:
        """The proxy reads routes from the database: nothing for the reconciler to do."""


@hookimpl
def machete_register_ingresses() -> list[IngressProvider]:
    return [
        IngressProvider(
            name="builtin",
            factory=BuiltinIngress,
            description="the server's own proxy on the tools port (no TLS, no custom domains)",
        )
    ]
