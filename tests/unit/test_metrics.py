"""``/metrics``: who may read it, and the series that requests, probes, sign-ins, deliveries and
the core's events leave there, with bounded labels. Real containers and deploys feed it in
tests/integration/test_observability.py."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from machete_core.domain.operations import SYSTEM
from machete_core.machete import Machete, create_machete
from machete_core.settings import Settings
from machete_plugins import BUILTIN_PLUGINS
from machete_web import create_app
from machete_web.health_monitor import monitor_round
from machete_web.keys import METRICS
from tests.support.people import token_for
from tests.support.pointing import PointingPlugin, deployed
from tests.support.webapps import api_and_tools
from tests.unit.test_proxy import upstream  # noqa: F401  (the loopback tool)

ROOT = Path(__file__).resolve().parents[2]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, frozenset(s.labels.items()))] = s.value
    return found


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def labelled(found: Samples, name: str, label: str) -> set[str]:
    return {dict(lbls)[label] for (n, lbls) in found if n == name and label in dict(lbls)}


@pytest.fixture
def machete(pointing_machete: Machete) -> Machete:
    return pointing_machete


async def scrape(api: TestClient) -> Samples:
    resp = await api.get("/metrics")
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return samples(await resp.text())


async def test_proxied_requests_are_counted_by_tool_method_and_status_class(
    aiohttp_client: Any,
    machete: Machete,
    upstream: TestServer,  # noqa: F811
) -> None:
    deployed(machete, "app")
    api, tools = await api_and_tools(aiohttp_client, machete)
    for path in ("/tools/app/", "/tools/app/x?q=1", "/tools/app/missing"):
        assert (await tools.get(path)).status in (200, 404)
    assert (await tools.post("/tools/app/form", data=b"x" * 10)).status == 200
    assert (await tools.get("/tools/nosuchtool/")).status == 404
    found = await scrape(api)
    total = "machete_proxy_requests_total"
    assert value(found, total, tool="app", method="GET", status_class="2xx") == 2
    assert value(found, total, tool="app", method="GET", status_class="4xx") == 1
    assert value(found, total, tool="app", method="POST", status_class="2xx") == 1
    # A name no tool has never becomes a label.
    assert value(found, total, tool="", method="GET", status_class="4xx") == 1
    assert "nosuchtool" not in json.dumps(sorted(map(str, found)))
    assert value(found, "machete_proxy_request_duration_seconds_count", tool="app") == 4
    assert value(found, "machete_proxy_requests_in_flight", tool="app") == 0
    # The tool's own series, read from the state at the scrape.
    assert value(found, "machete_tool_up", tool="app") == 1
    assert value(found, "machete_tool_health", tool="app", state="unknown") == 1
    assert value(found, "machete_tool_release_info", tool="app", release="1", commit="") == 1
    assert value(found, "machete_tools") == 1
    assert labelled(found, "machete_build_info", "database") == {machete.check_database()}


async def test_upstream_errors_are_counted_by_reason(
    aiohttp_client: Any,
    machete: Machete,
    upstream: TestServer,  # noqa: F811
) -> None:
    from tests.support.pointing import UPSTREAM

    deployed(machete, "app")
    api, tools = await api_and_tools(aiohttp_client, machete)
    port = UPSTREAM["port"]
    UPSTREAM["port"] = 9  # discard: nothing listens
    try:
        assert (await tools.get("/tools/app/")).status == 502
    finally:
        UPSTREAM["port"] = port
    found = await scrape(api)
    assert (
        value(found, "machete_proxy_upstream_errors_total", tool="app", reason="unreachable") == 1
    )
    assert (
        value(found, "machete_proxy_requests_total", tool="app", method="GET", status_class="5xx")
        == 1
    )


async def test_api_requests_are_labelled_by_route_template_never_the_path(
    aiohttp_client: Any, machete: Machete
) -> None:
    deployed(machete, "app")
    api, _tools = await api_and_tools(aiohttp_client, machete)
    assert (await api.get("/api/tools/app")).status == 200
    assert (await api.get("/api/tools/ghost")).status == 404
    assert (await api.get("/no/such/page/at/all")).status == 404
    found = await scrape(api)
    total = "machete_api_requests_total"
    assert value(found, total, route="/api/tools/{tool}", method="GET", status="200") == 1
    assert value(found, total, route="/api/tools/{tool}", method="GET", status="404") == 1
    assert value(found, total, route="(unmatched)", method="GET", status="404") == 1
    routes = labelled(found, total, "route")
    assert not any("app" in r or "ghost" in r or "such" in r for r in routes), routes


async def test_sign_in_attempts_are_counted_by_method_and_outcome(
    aiohttp_client: Any, machete: Machete
) -> None:
    api, _tools = await api_and_tools(aiohttp_client, machete)  # an owner's token on each
    bad = {"Authorization": "Bearer mch_pat_000000000000_" + "0" * 38}
    assert (await api.get("/api/tools", headers=bad)).status == 401
    resp = await api.post(
        "/api/auth/login",
        json={"username": "owner", "password": "wrong password!"},
        headers={"Authorization": ""},
    )
    assert resp.status == 401
    found = await scrape(api)
    attempts = "machete_auth_attempts_total"
    assert (value(found, attempts, method="token", outcome="ok") or 0) >= 1
    assert value(found, attempts, method="token", outcome="failed") == 1
    assert value(found, attempts, method="password", outcome="failed") == 1


async def test_the_core_events_feed_operations_builds_and_health(
    aiohttp_client: Any, machete: Machete
) -> None:
    deployed(machete, "app")
    api, _tools = await api_and_tools(aiohttp_client, machete)
    # Observing while the app runs; a part of the server, not an installed plugin: the
    # listing is the same through a server and on the state.
    assert machete.plugins.is_registered("metrics")
    assert "metrics" not in {p.name for p in machete.plugin_infos()}
    bus = machete.events
    bus.publish("operation.started", tool="app", operation_id="op1", kind="deploy")
    found = await scrape(api)
    assert value(found, "machete_operations_in_progress", kind="deploy") == 1
    bus.publish("step.finished", tool="app", operation_id="op1", step="build", seconds=2.0)
    bus.publish(
        "build.finished",
        tool="app",
        operation_id="op1",
        builder="docker",
        outcome="succeeded",
        seconds=2.0,
    )
    bus.publish(
        "operation.finished", tool="app", operation_id="op1", status="succeeded", kind="deploy"
    )
    bus.publish("operation.started", tool="app", operation_id="op2", kind="rollback")
    bus.publish(
        "operation.finished", tool="app", operation_id="op2", status="failed", kind="rollback"
    )
    bus.publish("release.failed", tool="app", operation_id="op2", error="x")
    bus.publish("tool.health", tool="app", actor=SYSTEM, health="unhealthy", detail="HTTP 500")
    found = await scrape(api)
    assert value(found, "machete_operations_in_progress", kind="deploy") == 0
    ops = "machete_operations_total"
    assert value(found, ops, tool="app", kind="deploy", outcome="succeeded") == 1
    assert value(found, ops, tool="app", kind="rollback", outcome="failed") == 1
    assert value(found, "machete_operation_duration_seconds_count", kind="deploy") == 1
    assert (
        value(found, "machete_operation_step_duration_seconds_sum", kind="deploy", step="build")
        == 2.0
    )
    assert value(found, "machete_builds_total", builder="docker", outcome="succeeded") == 1
    assert value(found, "machete_build_duration_seconds_count", builder="docker") == 1
    assert value(found, "machete_releases_failed_total", tool="app") == 1
    assert value(found, "machete_health_changes_total", tool="app", state="unhealthy") == 1


async def test_a_removed_tools_series_disappear(
    aiohttp_client: Any,
    machete: Machete,
    upstream: TestServer,  # noqa: F811
) -> None:
    deployed(machete, "app")
    deployed(machete, "other")
    api, tools = await api_and_tools(aiohttp_client, machete)
    assert (await tools.get("/tools/app/")).status == 200
    assert (await tools.get("/tools/other/")).status == 200
    machete.events.publish("operation.started", tool="app", operation_id="o", kind="restart")
    machete.events.publish(
        "operation.finished", tool="app", operation_id="o", status="succeeded", kind="restart"
    )
    before = await scrape(api)
    assert any(dict(lbls).get("tool") == "app" for _n, lbls in before)
    # What the remove operation does last (its runtime steps are the integration tests').
    machete.store.delete_tool(machete.store.get_tool("app").id)
    machete.events.publish("tool.removed", tool="app", purge=False)
    after = await scrape(api)
    assert not any(dict(lbls).get("tool") == "app" for _n, lbls in after), sorted(
        (n, dict(lbls)) for n, lbls in after if dict(lbls).get("tool") == "app"
    )
    assert value(after, "machete_tool_up", tool="other") == 1
    assert (
        value(after, "machete_proxy_requests_total", tool="other", method="GET", status_class="2xx")
        == 1
    )


async def test_health_probes_are_counted_with_their_latency(
    aiohttp_client: Any,
    machete: Machete,
    upstream: TestServer,  # noqa: F811
) -> None:
    deployed(machete, "app")
    api, _tools = await api_and_tools(aiohttp_client, machete)
    await monitor_round(api.app)
    found = await scrape(api)
    assert value(found, "machete_health_checks_total", result="healthy") == 1
    assert value(found, "machete_health_probe_duration_seconds_count") == 1


async def test_webhook_deliveries_are_counted_by_outcome(
    aiohttp_client: Any, machete: Machete
) -> None:
    api, _tools = await api_and_tools(aiohttp_client, machete)
    assert (await api.post("/api/hooks/nope", data=b"{}")).status == 404
    found = await scrape(api)
    assert value(found, "machete_webhook_deliveries_total", outcome="hook_not_found") == 1


@pytest.fixture
def proxied(settings: Settings) -> Iterator[Machete]:
    """A server behind one trusted proxy on loopback: the client's address is the proxy's."""
    m = create_machete(attrs.evolve(settings, trusted_proxies=1), builtins=BUILTIN_PLUGINS)
    m.plugins.register(PointingPlugin(), "pointing")
    yield m
    m.close()


async def test_metrics_need_the_right_from_elsewhere_than_loopback(
    aiohttp_client: Any, proxied: Machete
) -> None:
    client = await aiohttp_client(create_app(machete=proxied))
    remote = {"X-Forwarded-For": "203.0.113.9"}
    assert (await client.get("/metrics")).status == 200  # loopback itself
    assert (await client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})).status == 200
    assert (await client.get("/metrics", headers=remote)).status == 401
    viewer = token_for(proxied, "watcher", "viewer", scopes=("tools:read",))
    denied = await client.get("/metrics", headers={**remote, "Authorization": f"Bearer {viewer}"})
    assert denied.status == 403
    admin_no_scope = token_for(proxied, "boss", "admin", scopes=("tools:read",))
    no_scope = await client.get(
        "/metrics", headers={**remote, "Authorization": f"Bearer {admin_no_scope}"}
    )
    assert no_scope.status == 403
    reader = token_for(proxied, "boss", "admin", scopes=("metrics:read",))
    allowed = await client.get("/metrics", headers={**remote, "Authorization": f"Bearer {reader}"})
    assert allowed.status == 200 and "machete_build_info" in await allowed.text()


@hsettings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    names=st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True), max_size=6),
    paths=st.lists(st.text(alphabet="abc/%?&=.-_~", max_size=30), max_size=6),
    methods=st.lists(st.sampled_from(["GET", "POST", "PURGE", "BREW", "DELETE"]), max_size=4),
)
async def test_label_sets_stay_bounded_whatever_is_asked(
    aiohttp_client: Any,
    machete: Machete,
    upstream: TestServer,  # noqa: F811
    names: list[str],
    paths: list[str],
    methods: list[str],
) -> None:
    if machete.store.find_tool("app") is None:
        deployed(machete, "app")
    api, tools = await api_and_tools(aiohttp_client, machete)
    for name in names:
        for path in paths[:2] or [""]:
            for method in methods[:2] or ["GET"]:
                await (await tools.request(method, f"/tools/{name}/{path}")).release()
                # The API's methods only: the suite checks every API answer against the
                # document, which has no BREW.
                api_method = method if method in ("GET", "POST", "DELETE") else "GET"
                await (await api.request(api_method, f"/api/tools/{name}/{path}")).release()
    found = await scrape(api)
    app_routes = {r.resource.canonical for r in api.app.router.routes() if r.resource is not None}
    assert labelled(found, "machete_proxy_requests_total", "tool") <= {"app", ""}
    assert labelled(found, "machete_api_requests_total", "route") <= app_routes | {"(unmatched)"}
    assert labelled(found, "machete_api_requests_total", "method") <= {
        "GET",
        "HEAD",
        "POST",
        "PUT",
        "PATCH",
        "DELETE",
        "OPTIONS",
        "OTHER",
    }
    assert labelled(found, "machete_proxy_requests_total", "status_class") <= {
        "1xx",
        "2xx",
        "3xx",
        "4xx",
        "5xx",
        "aborted",
    }


def test_the_metrics_page_lists_every_metric_and_the_dashboard_queries_real_ones(
    machete: Machete,
) -> None:
    """docs/metrics.md names every family; every Grafana query names a real metric."""
    from machete_plugins.prometheus import PlatformMetrics

    metrics = PlatformMetrics(version="t", database="sqlite", sample_tools=lambda: [])
    names = {m.name for m in metrics.registry.collect()}
    names |= {
        "machete_tool_up",
        "machete_tool_health",
        "machete_tool_last_deploy_timestamp_seconds",
        "machete_tool_release",
        "machete_tools",
    }
    page = (ROOT / "docs" / "metrics.md").read_text()
    missing = sorted(n for n in names if f"`{n}" not in page)
    assert missing == []
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 10
    exported = set()
    for n in names:
        exported |= {n, f"{n}_total", f"{n}_bucket", f"{n}_sum", f"{n}_count", f"{n}_info"}
    for expr in exprs:
        used = set(re.findall(r"\bmachete_[a-z_]+", expr))
        assert used and used <= exported, (expr, used - exported)


async def test_metrics_can_be_turned_off(aiohttp_client: Any, settings: Settings) -> None:
    m = create_machete(attrs.evolve(settings, metrics=False), builtins=BUILTIN_PLUGINS)
    try:
        client = await aiohttp_client(create_app(machete=m))
        assert (await client.get("/api/health")).status == 200
        resp = await client.get("/metrics")
        assert resp.status == 404 and "MACHETE_METRICS" in await resp.text()
        assert not m.plugins.is_registered("metrics")
        assert client.app[METRICS].render().count(b"machete_api_requests_total{") == 0
    finally:
        m.close()
