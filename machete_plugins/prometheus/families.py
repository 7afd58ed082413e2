"""Every metric MACHETE exports, in one place (docs/metrics.md lists them; a test reads both).

Label values come from small sets only: tool names (the installed tools; a removed tool's
series are removed), operation kinds, step names, builders, outcomes, route templates (never a
raw path), HTTP methods folded to the standard ones, status codes or classes.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

#: Seconds: from a health probe to a long build.
FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SLOW = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


class Families:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.build_info = Gauge(
            "machete_build_info",
            "MACHETE's version and database kind.",
            ("version", "database"),
            registry=r,
        )
        # operations
        self.operations = Counter(
            "machete_operations",
            "Operations ended, by tool, kind and outcome.",
            ("tool", "kind", "outcome"),
            registry=r,
        )
        self.operation_seconds = Histogram(
            "machete_operation_duration_seconds",
            "How long operations ran, by kind.",
            ("kind",),
            buckets=SLOW,
            registry=r,
        )
        self.step_seconds = Histogram(
            "machete_operation_step_duration_seconds",
            "How long operation steps ran, by operation kind and step.",
            ("kind", "step"),
            buckets=SLOW,
            registry=r,
        )
        self.in_progress = Gauge(
            "machete_operations_in_progress",
            "Operations running now in this server.",
            ("kind",),
            registry=r,
        )
        self.builds = Counter(
            "machete_builds",
            "Image builds, by builder and outcome.",
            ("builder", "outcome"),
            registry=r,
        )
        self.build_seconds = Histogram(
            "machete_build_duration_seconds",
            "How long image builds took, by builder.",
            ("builder",),
            buckets=SLOW,
            registry=r,
        )
        self.releases_failed = Counter(
            "machete_releases_failed",
            "Deploys that failed and kept the previous release.",
            ("tool",),
            registry=r,
        )
        # health
        self.health_checks = Counter(
            "machete_health_checks",
            "Health probes of running tools, by result.",
            ("result",),
            registry=r,
        )
        self.probe_seconds = Histogram(
            "machete_health_probe_duration_seconds",
            "Health probe latency.",
            buckets=FAST,
            registry=r,
        )
        self.health_changes = Counter(
            "machete_health_changes",
            "Changes of a tool's health, by tool and new state.",
            ("tool", "state"),
            registry=r,
        )
        # the proxy
        self.proxy_requests = Counter(
            "machete_proxy_requests",
            "Requests sent on to tools, by tool, method and status class.",
            ("tool", "method", "status_class"),
            registry=r,
        )
        self.proxy_seconds = Histogram(
            "machete_proxy_request_duration_seconds",
            "Time to answer a proxied request (to the end of its body), by tool.",
            ("tool",),
            buckets=FAST,
            registry=r,
        )
        self.proxy_in_flight = Gauge(
            "machete_proxy_requests_in_flight",
            "Proxied requests being answered now, by tool.",
            ("tool",),
            registry=r,
        )
        self.upstream_errors = Counter(
            "machete_proxy_upstream_errors",
            "Proxied requests a tool failed, by tool and reason.",
            ("tool", "reason"),
            registry=r,
        )
        # the API and sign-ins
        self.api_requests = Counter(
            "machete_api_requests",
            "API and dashboard requests, by route template, method, status.",
            ("route", "method", "status"),
            registry=r,
        )
        self.api_seconds = Histogram(
            "machete_api_request_duration_seconds",
            "API and dashboard request latency, by route template and method.",
            ("route", "method"),
            buckets=FAST,
            registry=r,
        )
        self.auth_attempts = Counter(
            "machete_auth_attempts",
            "Credentials presented, by method and outcome.",
            ("method", "outcome"),
            registry=r,
        )
        # deliveries
        self.notifications = Counter(
            "machete_notifications",
            "Notification send attempts, by notification type and outcome.",
            ("notice", "outcome"),
            registry=r,
        )
        self.webhook_deliveries = Counter(
            "machete_webhook_deliveries",
            "Push webhook deliveries received, by outcome.",
            ("outcome",),
            registry=r,
        )
