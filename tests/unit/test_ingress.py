"""The ingress kind without a daemon: the built-in ingress against the contract, the routes
the database wants (and the reconciler's use of them) with a recording ingress, Caddy's
JSON for a route, and the custom-domain rules."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from machete_core.domain.records import Endpoint
from machete_core.domain.routes import PublishedRoute, RouteHost, RouteSet
from machete_core.domains import check_domain
from machete_core.errors import (
    DomainNotFoundError,
    DomainTakenError,
    ForbiddenError,
    InvalidInputError,
)
from machete_core.machete import Machete, create_machete
from machete_core.plugins import hookimpl
from machete_core.plugins.records import IngressProvider, RuntimeProvider
from machete_core.routing import desired_route, ingress_secret, reconcile_routes
from machete_core.settings import Settings
from machete_plugins import BUILTIN_PLUGINS
from machete_plugins.builtin_ingress import BuiltinIngress
from machete_plugins.caddy import config
from machete_plugins.testing.ingress_contract import IngressContract
from tests.support.people import as_user, ensure_user
from tests.support.pointing import UPSTREAM, PointingPlugin, PointingRuntime, deployed


class TestBuiltinIngress(IngressContract):
    @pytest.fixture
    def ingress(self, tmp_path: Path) -> BuiltinIngress:
        return BuiltinIngress(Settings(home=tmp_path))


class RecordingIngress:
    """An ingress that keeps what it is given and says so, as Caddy does (the built-in
    one reads the database instead): for the reconciler's rounds without Caddy."""

    calls: list[tuple[str, str]] = []

    def __init__(self, settings: Settings) -> None:
        self._kept = BuiltinIngress(settings)

    def publish(self, route: RouteSet) -> None:
        RecordingIngress.calls.append(("publish", route.tool))
        self._kept.publish(route)

    def withdraw(self, tool: str) -> None:
        RecordingIngress.calls.append(("withdraw", tool))
        self._kept.withdraw(tool)

    def published(self) -> list[PublishedRoute]:
        return self._kept.published()

    def drain(self, tool: str, upstreams: Sequence[Endpoint], seconds: float) -> None:
        pass

    def health(self) -> str | None:
        return RecordingIngress.problem

    problem: str | None = None


class _Recording:
    @hookimpl
    def machete_register_ingresses(self) -> list[IngressProvider]:
        return [IngressProvider(name="recording", factory=RecordingIngress)]


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[Machete]:
    UPSTREAM["port"] = 4321
    RecordingIngress.calls = []
    RecordingIngress.problem = None
    m = create_machete(
        Settings(home=tmp_path, ingress="recording", tools_domain="tools.test"),
        builtins=BUILTIN_PLUGINS,
    )
    m.plugins.register(PointingPlugin(), "pointing")
    m.plugins.register(_Recording(), "recording")
    yield m
    m.close()


def test_the_desired_route_comes_from_the_database(recorded: Machete) -> None:
    deployed(recorded, "wiki", strip=False)
    tool = recorded.store.get_tool("wiki")
    recorded.store.add_domain(tool.id, "wiki.example.com", "internal", "user:admin")
    route = desired_route(recorded.core, recorded.store.get_tool("wiki"))
    assert route.upstreams == (Endpoint("127.0.0.1", 4321),)
    assert route.hosts == (
        RouteHost("wiki.tools.test", "internal"),
        RouteHost("wiki.example.com", "internal"),
    )
    assert (route.path_prefix, route.strip_prefix, route.access) == (
        "/tools/wiki",
        False,
        "members",
    )
    recorded.store.update_tool(tool.id, status="stopped")
    stopped = desired_route(recorded.core, recorded.store.get_tool("wiki"))
    assert stopped.upstreams == () and stopped.digest != route.digest


class TwoReplicas(PointingRuntime):
    """A replicated runtime whose every release runs two replicas."""

    def endpoints(self, instance_id: str, port: int) -> list[Endpoint]:
        return [Endpoint("10.0.0.1", port), Endpoint("10.0.0.2", port)]

    def scale(self, instance_id: str, replicas: int) -> None: ...

    def rollback(self, instance_id: str) -> bool:
        return False


class _TwoReplicasPlugin:
    @hookimpl
    def machete_register_runtimes(self) -> list[RuntimeProvider]:
        return [RuntimeProvider(name="pointing", factory=TwoReplicas)]  # type: ignore[arg-type]


def test_a_replicated_tool_routes_to_every_replica(tmp_path: Path) -> None:
    m = create_machete(Settings(home=tmp_path), builtins=BUILTIN_PLUGINS)
    try:
        m.plugins.register(_TwoReplicasPlugin(), "two")
        deployed(m, "swarmed")
        route = desired_route(m.core, m.store.get_tool("swarmed"))
        assert route.upstreams == (Endpoint("10.0.0.1", 8080), Endpoint("10.0.0.2", 8080))
    finally:
        m.close()


def test_the_reconciler_publishes_what_differs_and_withdraws_what_no_tool_has(
    recorded: Machete,
) -> None:
    deployed(recorded, "wiki")
    deployed(recorded, "blog")
    ingress = recorded.core.ingress()
    ingress.publish(  # a route of a tool removed while the ingress was away
        RouteSet(tool="gone", release=1, upstreams=(Endpoint("127.0.0.1", 1),))
    )
    first = reconcile_routes(recorded.core, busy=set())
    assert sorted(first.published) == ["blog", "wiki"] and first.withdrawn == ["gone"]
    # A second round finds everything as the database wants it: nothing to do.
    assert attrs.astuple(reconcile_routes(recorded.core, busy=set())) == ([], [], {})
    # A change behind MACHETE's back (another upstream) is put right.
    ingress.publish(RouteSet(tool="wiki", release=9, upstreams=(Endpoint("10.0.0.9", 80),)))
    assert reconcile_routes(recorded.core, busy=set()).published == ["wiki"]
    # A tool with an operation running is its operation's to publish.
    ingress.withdraw("blog")
    assert reconcile_routes(recorded.core, busy={"blog"}).published == []
    assert (
        reconcile_routes(recorded.core, busy=set(), is_busy=lambda n: n == "blog").published == []
    )


def test_an_ingress_that_does_not_serve_is_not_compared_with(recorded: Machete) -> None:
    deployed(recorded, "wiki")
    RecordingIngress.problem = "Caddy's admin API did not answer"
    report = reconcile_routes(recorded.core, busy=set())
    assert report.failed == {"*": "Caddy's admin API did not answer"}
    assert RecordingIngress.calls == []
    # The reconciler reports it (and then removes no instance of any tool: reconcile.py).
    assert recorded.reconcile().routes_failed == {"*": "Caddy's admin API did not answer"}


def test_the_builtin_ingress_leaves_the_reconciler_nothing(tmp_path: Path) -> None:
    m = create_machete(Settings(home=tmp_path), builtins=BUILTIN_PLUGINS)
    try:
        m.plugins.register(PointingPlugin(), "pointing")
        deployed(m, "wiki")
        assert attrs.astuple(reconcile_routes(m.core, busy=set())) == ([], [], {})
    finally:
        m.close()


def test_domains_are_admins_and_each_name_is_one_tools(recorded: Machete) -> None:
    deployed(recorded, "wiki")
    deployed(recorded, "blog")
    added = recorded.domains.add("wiki", "Wiki.Example.COM.", "internal")
    assert (added.name, added.tool, added.tls) == ("wiki.example.com", "wiki", "internal")
    assert ("publish", "wiki") in RecordingIngress.calls
    with pytest.raises(DomainTakenError):
        recorded.domains.add("blog", "wiki.example.com")
    assert [d.name for d in recorded.domains.list("wiki")] == ["wiki.example.com"]
    ensure_user(recorded, "mia", "maintainer")
    maintainer = as_user(recorded, "mia")
    with pytest.raises(ForbiddenError):
        maintainer.domains.add("wiki", "other.example.com")
    with pytest.raises(InvalidInputError):
        recorded.domains.add("wiki", "x.example.com", "selfsigned")
    recorded.domains.remove("wiki", "wiki.example.com")
    with pytest.raises(DomainNotFoundError):
        recorded.domains.remove("wiki", "wiki.example.com")
    # A removed tool's domains go with it.
    recorded.domains.add("blog", "blog.example.com")
    recorded.store.delete_tool(recorded.store.get_tool("blog").id)
    assert recorded.domains.list() == []


@pytest.mark.parametrize(
    "name",
    [
        "localhost",
        "app.localhost",
        "127.0.0.1",
        "[::1]",
        "nodots",
        "-bad.example.com",
        "bad-.example.com",
        "a..b.example.com",
        "under_score.example.com",
        "*.example.com",
        "wiki.tools.test",
        "tools.test",
        "machete.example.com",
        "x" * 64 + ".example.com",
        "ex ample.com",
    ],
)
def test_names_that_would_take_another_origin_are_refused(name: str) -> None:
    with pytest.raises(InvalidInputError):
        check_domain(name, frozenset({"machete.example.com"}), "tools.test")


@given(st.text(max_size=80))
def test_any_name_is_accepted_clean_or_refused_clearly(name: str) -> None:
    try:
        clean = check_domain(name, frozenset(), "tools.test")
    except InvalidInputError as exc:
        assert exc.details["path"] == "name"
    else:
        assert clean == clean.lower().strip(".") and "." in clean and len(clean) <= 253


# -- Caddy's JSON ----------------------------------------------------------------------------


def _settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, installation="main", tools_domain="tools.test")


def _flat(value: object) -> str:
    import json

    return json.dumps(value)


def test_a_public_route_never_asks_the_server(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    route = RouteSet(
        tool="wiki",
        release=2,
        upstreams=(Endpoint("127.0.0.1", 5000), Endpoint("::1", 5001)),
        hosts=(RouteHost("wiki.tools.test", "internal"),),
        path_prefix="/tools/wiki",
        access="public",
    )
    body = config.route_config(settings, route, "s3cret")
    assert body["@id"] == "machete.main.tool.wiki"
    assert body["match"] == [
        {"host": ["wiki.tools.test"]},
        {"path": ["/tools/wiki", "/tools/wiki/*"]},
    ]
    assert "s3cret" not in _flat(body) and "X-Machete-Ingress" not in _flat(body)
    assert '"dial": "[::1]:5001"' in _flat(body)
    [seen] = config.parse_published(settings, [body, {"@id": "operator"}])
    assert seen == PublishedRoute(
        tool="wiki",
        release=2,
        digest=route.digest,
        upstreams=route.upstreams,
        hosts=("wiki.tools.test",),
    )


def test_a_members_route_asks_the_server_with_the_secret(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    route = RouteSet(
        tool="wiki", release=1, upstreams=(Endpoint("127.0.0.1", 5000),), path_prefix="/tools/wiki"
    )
    flat = _flat(config.route_config(settings, route, "s3cret"))
    assert '"X-Machete-Ingress": ["s3cret"]' in flat
    assert f'"dial": "unix/{settings.ingress_auth_socket}"' in flat
    # The question carries no body; only a 2xx lets the request on.
    assert '"status_code": [2]' in flat and '"method": "GET"' in flat


def test_managed_caddy_works_on_half_the_cpus_unless_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from machete_plugins.caddy.ingress import CaddyIngress
    from machete_plugins.caddy.process import ManagedCaddy

    monkeypatch.setattr("os.cpu_count", lambda: 8)
    monkeypatch.setenv("GOGC", "200")
    monkeypatch.setenv("MACHETE_SECRET_THING", "x")
    env = ManagedCaddy(_settings(tmp_path)).environment()
    assert env["GOMAXPROCS"] == "4" and env["GOGC"] == "200"
    assert not any(name.startswith("MACHETE_") for name in env)  # nothing of the server's
    told = ManagedCaddy(attrs.evolve(_settings(tmp_path), caddy_cpus=8)).environment()
    assert told["GOMAXPROCS"] == "8"
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert ManagedCaddy(_settings(tmp_path)).environment()["GOMAXPROCS"] == "1"
    with pytest.raises(InvalidInputError) as caught:
        CaddyIngress(attrs.evolve(_settings(tmp_path), caddy_cpus=-1))
    assert "MACHETE_CADDY_CPUS" in caught.value.message


def test_machete_names_and_a_tool_called_not_found_do_not_collide(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    base = config.server_config(settings)
    tool = config.route_config(settings, RouteSet(tool="not-found", release=1, upstreams=()), "s")
    found = config.parse_published(settings, [tool, *base["routes"]])
    assert [p.tool for p in found] == ["not-found"]


def test_the_ingress_secret_is_made_once_and_private(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    first = ingress_secret(settings)
    assert first == ingress_secret(settings) and len(first) >= 40
    assert (tmp_path / "ingress.secret").stat().st_mode & 0o077 == 0
