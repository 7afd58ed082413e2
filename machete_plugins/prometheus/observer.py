"""The core's events, turned into counts and durations (registered as a plugin)."""

from __future__ import annotations

import threading
from typing import Any

from machete_core.domain.records import Event
from machete_core.plugins import hookimpl
from machete_plugins.prometheus.families import Families

#: Outcomes an operation ends with (anything else is counted as "other").
OUTCOMES = frozenset({"succeeded", "failed", "cancelled"})


class EventObserver:
    """Keeps what it needs between an operation's start and its end, per operation id."""

    def __init__(self, families: Families) -> None:
        self._f = families
        self._lock = threading.Lock()
        self._running: dict[str, tuple[str, float]] = {}
        #: Each series' child, found once: ``labels()`` costs more than the increment, on
        #: every proxied request.
        self._children: dict[tuple[str, tuple[str, ...]], Any] = {}
        #: The series labelled with each tool, to remove them with the tool.
        self._series: dict[str, set[tuple[str, tuple[str, ...]]]] = {}

    def child(self, family: str, labels: tuple[str, ...], *, tool: str | None = None) -> Any:
        """The series ``labels`` of ``family``; with ``tool``, removed with that tool."""
        key = (family, labels)
        found = self._children.get(key)
        if found is None:
            # Under the lock: a removal of the tool meanwhile must not leave a cached child
            # the registry no longer exports.
            with self._lock:
                found = getattr(self._f, family).labels(*labels)
                self._children[key] = found
                if tool is not None:
                    self._series.setdefault(tool, set()).add(key)
        return found

    def forget_tool(self, tool: str) -> None:
        """Remove every series labelled with ``tool`` (it was removed)."""
        with self._lock:
            for key in self._series.pop(tool, set()):
                self._children.pop(key, None)
                family, labels = key
                try:
                    getattr(self._f, family).remove(*labels)
                except KeyError:
                    pass

    def count_for_tool(self, tool: str, family: str, *labels: str) -> None:
        """Increment a counter labelled (first) with a tool."""
        self.child(family, (tool, *labels), tool=tool).inc()

    @hookimpl
    def machete_on_event(self, event: Event) -> None:
        handler = _HANDLERS.get(event.kind)
        if handler is not None:
            handler(self, event)

    def _started(self, event: Event) -> None:
        kind = str(event.data.get("kind", "unknown"))
        if event.operation_id is None:
            return
        with self._lock:
            self._running[event.operation_id] = (kind, event.at)
        self._f.in_progress.labels(kind).inc()

    def _finished(self, event: Event) -> None:
        with self._lock:
            started = self._running.pop(event.operation_id or "", None)
        kind = str(event.data.get("kind") or (started[0] if started else "unknown"))
        outcome = str(event.data.get("status", "other"))
        outcome = outcome if outcome in OUTCOMES else "other"
        if started is not None:
            self._f.in_progress.labels(started[0]).dec()
            self._f.operation_seconds.labels(kind).observe(max(0.0, event.at - started[1]))
        # A failed install may leave no tool: its name must not become a lasting series.
        tool = event.tool or ""
        if kind == "install" and outcome != "succeeded":
            tool = ""
        if kind == "remove" and outcome == "succeeded":
            return  # the tool.removed event dropped its series; do not recreate one
        self.count_for_tool(tool, "operations", kind, outcome)

    def _step(self, event: Event) -> None:
        seconds = event.data.get("seconds")
        if not isinstance(seconds, int | float):
            return
        with self._lock:
            started = self._running.get(event.operation_id or "")
        kind = started[0] if started else "unknown"
        self._f.step_seconds.labels(kind, str(event.data.get("step", ""))).observe(seconds)

    def _build(self, event: Event) -> None:
        builder = str(event.data.get("builder", "unknown"))
        self._f.builds.labels(builder, str(event.data.get("outcome", "failed"))).inc()
        seconds = event.data.get("seconds")
        if isinstance(seconds, int | float):
            self._f.build_seconds.labels(builder).observe(seconds)

    def _release_failed(self, event: Event) -> None:
        if event.tool:
            self.count_for_tool(event.tool, "releases_failed")

    def _health(self, event: Event) -> None:
        if event.tool:
            state = "healthy" if event.data.get("health") == "healthy" else "unhealthy"
            self.count_for_tool(event.tool, "health_changes", state)

    def _notification(self, event: Event) -> None:
        notice = str(event.data.get("notice", "other"))
        self.child("notifications", (notice, str(event.data.get("outcome", "failed")))).inc()

    def _removed(self, event: Event) -> None:
        if event.tool:
            self.forget_tool(event.tool)


_HANDLERS = {
    "operation.started": EventObserver._started,
    "operation.finished": EventObserver._finished,
    "step.finished": EventObserver._step,
    "build.finished": EventObserver._build,
    "release.failed": EventObserver._release_failed,
    "tool.health": EventObserver._health,
    "tool.removed": EventObserver._removed,
    "notification.attempted": EventObserver._notification,
}
