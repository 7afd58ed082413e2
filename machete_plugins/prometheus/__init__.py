"""Prometheus metrics, fed by an observer of the core's events (``machete_on_event``) and by the
hosts (requests, probes, sign-ins, deliveries). The core never imports this package.

One :class:`~machete_plugins.prometheus.metrics.PlatformMetrics` per server, with a registry of
its own (never the library's global one), registered on that server's plugin manager.
"""

from machete_plugins.prometheus.metrics import PlatformMetrics
from machete_plugins.prometheus.tools_collector import ToolSample

__all__ = ["PlatformMetrics", "ToolSample"]
