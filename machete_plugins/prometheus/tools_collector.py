"""The per-tool series, read from the platform's state at each scrape: what is installed now
is what is exported, so a removed tool's series are gone at the next scrape."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator

import attrs
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

#: The states a tool's health gauge reports (one series each, 1 for the current one).
HEALTH_STATES = ("healthy", "unhealthy", "unknown")


@attrs.frozen
class ToolSample:
    name: str
    #: The tool's status (running, stopped, failed, building, pending, unknown).
    status: str
    #: healthy, unhealthy, or None when not running or not probed yet.
    health: str | None
    release: int | None
    commit: str | None
    #: When its live release was deployed (Unix time), None before the first.
    deployed_at: float | None


class ToolsCollector(Collector):
    def __init__(self, sample: Callable[[], Iterable[ToolSample]]) -> None:
        self._sample = sample

    def describe(self) -> list[Metric]:
        return []  # read at scrape time only; registering must not query the state

    def collect(self) -> Iterator[Metric]:
        try:
            samples = sorted(self._sample(), key=lambda s: s.name)
        except Exception:  # a scrape while the database is away reports nothing per tool
            log.exception("reading the tools for the metrics failed")
            samples = []
        up = GaugeMetricFamily(
            "machete_tool_up", "1 when the tool's live release runs.", labels=["tool"]
        )
        health = GaugeMetricFamily(
            "machete_tool_health",
            "The tool's health: 1 on the series of its current state.",
            labels=["tool", "state"],
        )
        deployed = GaugeMetricFamily(
            "machete_tool_last_deploy_timestamp_seconds",
            "When the tool's live release was deployed.",
            labels=["tool"],
        )
        release = InfoMetricFamily(
            "machete_tool_release", "The tool's live release.", labels=["tool"]
        )
        tools = GaugeMetricFamily("machete_tools", "Installed tools.")
        tools.add_metric([], len(samples))
        for s in samples:
            up.add_metric([s.name], 1.0 if s.status == "running" else 0.0)
            state = s.health if s.health in HEALTH_STATES else "unknown"
            for candidate in HEALTH_STATES:
                health.add_metric([s.name, candidate], 1.0 if candidate == state else 0.0)
            if s.deployed_at is not None:
                deployed.add_metric([s.name], s.deployed_at)
            if s.release is not None:
                release.add_metric(
                    [s.name], {"release": str(s.release), "commit": (s.commit or "")[:12]}
                )
        yield from (tools, up, health, deployed, release)
