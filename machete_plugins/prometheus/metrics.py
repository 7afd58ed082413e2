"""One server's metrics: the registry, the event observer and what the hosts record."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from machete_plugins.prometheus.families import Families
from machete_plugins.prometheus.observer import EventObserver
from machete_plugins.prometheus.tools_collector import ToolSample, ToolsCollector

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: The route label of a request no route matched (its path is never a label).
UNMATCHED = "(unmatched)"
#: Why a proxied request failed at the tool (``reason`` label values).
UPSTREAM_REASONS = frozenset({"busy", "unreachable", "timeout", "bad_response", "broken_body"})
AUTH_METHODS = frozenset({"token", "session", "local", "plugin", "password", "device"})
AUTH_OUTCOMES = frozenset({"ok", "failed", "second_factor"})
#: The text format every Prometheus version reads.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
#: The families the tools' listener records, in whichever process runs it.
PROXY_FAMILIES = ("proxy_requests", "proxy_seconds", "proxy_in_flight", "upstream_errors")


def method_label(method: str) -> str:
    return method if method in METHODS else "OTHER"


def status_class(status: int | None) -> str:
    """``2xx``..``5xx``; ``aborted`` when no status reached the client."""
    if status is None or not 100 <= status <= 599:
        return "aborted"
    return f"{status // 100}xx"


class PlatformMetrics:
    """Registered on the plugin manager as ``metrics`` (its observer takes the events); the
    hosts call the ``observe_*`` methods for what only they see."""

    def __init__(
        self,
        *,
        version: str,
        database: str,
        sample_tools: Callable[[], Iterable[ToolSample]],
        enabled: bool = True,
    ) -> None:
        #: Off (``MACHETE_METRICS=false``): every ``observe_*`` returns at once.
        self.enabled = enabled
        self.registry = CollectorRegistry(auto_describe=False)
        self.families = Families(self.registry)
        self.observer = EventObserver(self.families)
        self._tools = ToolsCollector(sample_tools)
        self.registry.register(self._tools)
        self.families.build_info.labels(version, database).set(1)
        self._elsewhere: list[Callable[[], bytes]] = []

    @classmethod
    def for_proxy(cls, *, enabled: bool = True) -> PlatformMetrics:
        """The metrics of a process that runs only the tools' listener: the proxy's families
        and nothing else (the server's exposition adds them to its own: :meth:`hand_over`)."""
        metrics = cls(version="", database="", sample_tools=tuple, enabled=enabled)
        metrics.registry.unregister(metrics._tools)
        for name, family in vars(metrics.families).items():
            if name not in PROXY_FAMILIES:
                metrics.registry.unregister(family)
        return metrics

    def hand_over(self, families: Iterable[str], render: Callable[[], bytes]) -> None:
        """Another process records ``families`` (the tools' listener in its own process):
        they leave this registry, and that process's exposition, from ``render`` (blocking;
        empty when it cannot be had), is added to this one's."""
        for name in families:
            self.registry.unregister(getattr(self.families, name))
        self._elsewhere.append(render)

    def render(self) -> bytes:
        """The exposition text (reads the tools' state: call it off the event loop)."""
        text = generate_latest(self.registry)
        # Each family is in exactly one of the parts, so joining them is a valid exposition.
        return b"".join([text, *(render() for render in self._elsewhere)])

    # -- what the hosts see ----------------------------------------------------------------

    def observe_api(
        self, route: str | None, method: str, status: int | None, seconds: float
    ) -> None:
        if not self.enabled:
            return
        route_label = route or UNMATCHED
        method = method_label(method)
        code = str(status) if status is not None and 100 <= status <= 599 else "aborted"
        self.observer.child("api_requests", (route_label, method, code)).inc()
        self.observer.child("api_seconds", (route_label, method)).observe(seconds)

    def proxy_started(self, tool: str) -> None:
        if not self.enabled:
            return
        self.observer.child("proxy_in_flight", (tool,), tool=tool).inc()

    def proxy_ended(self, tool: str) -> None:
        if not self.enabled:
            return
        self.observer.child("proxy_in_flight", (tool,), tool=tool).dec()

    def observe_proxy(self, tool: str, method: str, status: int | None, seconds: float) -> None:
        """A proxied request ended. ``tool`` is a routed tool's name, or "" when the request
        named no installed tool (unknown names never become labels)."""
        if not self.enabled:
            return
        labels = (tool, method_label(method), status_class(status))
        self.observer.child("proxy_requests", labels, tool=tool).inc()
        self.observer.child("proxy_seconds", (tool,), tool=tool).observe(seconds)

    def upstream_error(self, tool: str, reason: str) -> None:
        if not self.enabled:
            return
        reason = reason if reason in UPSTREAM_REASONS else "other"
        self.observer.count_for_tool(tool, "upstream_errors", reason)

    def observe_probe(self, healthy: bool, seconds: float) -> None:
        if not self.enabled:
            return
        self.families.health_checks.labels("healthy" if healthy else "unhealthy").inc()
        self.families.probe_seconds.observe(seconds)

    def auth_attempt(self, method: str, outcome: str) -> None:
        if not self.enabled:
            return
        method = method if method in AUTH_METHODS else "other"
        outcome = outcome if outcome in AUTH_OUTCOMES else "failed"
        self.observer.child("auth_attempts", (method, outcome)).inc()  # on every request

    def webhook_delivery(self, outcome: str) -> None:
        if not self.enabled:
            return
        self.families.webhook_deliveries.labels(outcome).inc()
