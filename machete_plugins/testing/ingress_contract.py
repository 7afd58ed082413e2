"""The contract every ingress must pass, as pytest test classes.

:class:`IngressContract` checks the Protocol (publish, replace, withdraw, list, drain,
health); :class:`RoutingIngressContract` adds requests sent through the ingress, for the
ingresses that serve from the routes they are given (not from the database)::

    from machete_plugins.testing.ingress_contract import RoutingIngressContract

    class TestMyIngress(RoutingIngressContract):
        @pytest.fixture
        def ingress(self):
            ...  # started, serving plain HTTP for the tools on tools_url
        @pytest.fixture
        def tools_url(self):
            return "http://127.0.0.1:8081"

Upstreams are small aiohttp servers on loopback (``upstreams.py``); routes are public (the
server's answer to ``forward_auth`` is tested with a real server, not here).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from machete_core.domain.routes import RouteHost, RouteSet
from machete_core.plugins.protocols import Ingress
from machete_plugins.testing.upstreams import Upstream

Make = Callable[[str], Upstream]


def route(tool: str, *ups: Upstream, release: int = 1, **fields: Any) -> RouteSet:
    fields.setdefault("access", "public")
    fields.setdefault("hosts", (RouteHost(f"{tool}.contract.test", "internal"),))
    return RouteSet(
        tool=tool,
        release=release,
        upstreams=tuple(u.endpoint for u in ups),
        path_prefix=f"/tools/{tool}",
        **fields,
    )


class IngressContract:
    @pytest.fixture
    def upstream(self) -> Iterator[Make]:
        made: list[Upstream] = []

        def make(name: str) -> Upstream:
            made.append(Upstream(name).start())
            return made[-1]

        yield make
        for item in made:
            item.stop()

    def test_it_reports_that_it_serves(self, ingress: Ingress) -> None:
        assert ingress.health() is None

    def test_published_lists_what_was_published(self, ingress: Ingress, upstream: Make) -> None:
        a = upstream("a")
        wanted = route("alpha", a, release=3)
        ingress.publish(wanted)
        [seen] = [p for p in ingress.published() if p.tool == "alpha"]
        assert (seen.release, seen.digest) == (3, wanted.digest)
        assert seen.upstreams == (a.endpoint,)
        assert "alpha.contract.test" in seen.hosts

    def test_publishing_again_replaces(self, ingress: Ingress, upstream: Make) -> None:
        a, b = upstream("a"), upstream("b")
        ingress.publish(route("alpha", a, release=1))
        ingress.publish(route("alpha", b, release=2))
        mine = [p for p in ingress.published() if p.tool == "alpha"]
        assert len(mine) == 1
        assert (mine[0].release, mine[0].upstreams) == (2, (b.endpoint,))

    def test_withdraw_removes_and_is_idempotent(self, ingress: Ingress, upstream: Make) -> None:
        ingress.publish(route("alpha", upstream("a")))
        ingress.withdraw("alpha")
        ingress.withdraw("alpha")
        ingress.withdraw("never-published")
        assert all(p.tool != "alpha" for p in ingress.published())

    def test_tools_are_independent(self, ingress: Ingress, upstream: Make) -> None:
        ingress.publish(route("alpha", upstream("a")))
        ingress.publish(route("beta", upstream("b")))
        ingress.withdraw("alpha")
        assert [p.tool for p in ingress.published() if p.tool in ("alpha", "beta")] == ["beta"]

    def test_drain_ends_by_the_drain_time(self, ingress: Ingress, upstream: Make) -> None:
        a = upstream("a")
        ingress.publish(route("alpha", a))
        started = time.monotonic()
        ingress.drain("alpha", [a.endpoint], 1.0)
        # It may return at once (nothing in flight) and must by the drain time.
        assert time.monotonic() - started < 1.5


class RoutingIngressContract(IngressContract):
    def get(
        self, tools_url: str, path: str, host: str | None = None, **headers: str
    ) -> tuple[int, dict[str, Any], http.client.HTTPResponse]:
        parts = urlsplit(tools_url)
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
        if host:
            headers["Host"] = host
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        conn.close()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {"raw": raw.decode("utf-8", "replace")}
        return resp.status, body, resp

    def test_a_path_reaches_the_tool_without_its_prefix(
        self, ingress: Ingress, upstream: Make, tools_url: str
    ) -> None:
        ingress.publish(route("alpha", upstream("a")))
        status, body, _ = self.get(tools_url, "/tools/alpha/x/y?q=1")
        assert status == 200
        assert (body["upstream"], body["path"]) == ("a", "/x/y?q=1")
        assert body["headers"]["x-forwarded-prefix"] == "/tools/alpha"
        assert body["headers"]["x-forwarded-for"]

    def test_the_prefix_stays_when_the_tool_asks(
        self, ingress: Ingress, upstream: Make, tools_url: str
    ) -> None:
        ingress.publish(route("alpha", upstream("a"), strip_prefix=False))
        _status, body, _ = self.get(tools_url, "/tools/alpha/x")
        assert body["path"] == "/tools/alpha/x"

    def test_a_host_name_reaches_the_tool_whole(
        self, ingress: Ingress, upstream: Make, tools_url: str
    ) -> None:
        ingress.publish(route("alpha", upstream("a")))
        status, body, _ = self.get(tools_url, "/tools/alpha/x", host="alpha.contract.test")
        assert status == 200
        # On its own host the tool's whole path space is its own.
        assert body["path"] == "/tools/alpha/x"
        assert body["headers"]["x-forwarded-host"] == "alpha.contract.test"

    def test_machete_credentials_never_cross(
        self, ingress: Ingress, upstream: Make, tools_url: str
    ) -> None:
        ingress.publish(route("alpha", upstream("a")))
        _s, body, _ = self.get(
            tools_url,
            "/tools/alpha/",
            Cookie="machete_session=secret; tool_own=1; __Host-machete_csrf=x",
            Authorization="Bearer mch_u_abc_secret",
        )
        sent = body["headers"]
        assert "secret" not in json.dumps(sent)
        assert "tool_own=1" in sent.get("cookie", "")
        _s, body, _ = self.get(tools_url, "/tools/alpha/", Authorization="Basic dG9vbDp0b29s")
        assert body["headers"]["authorization"] == "Basic dG9vbDp0b29s"
        _s, _b, resp = self.get(tools_url, "/tools/alpha/cookie")
        cookies = [c for c in resp.headers.get_all("Set-Cookie") or [] if c.strip()]
        assert any(c.startswith("tool_own=") for c in cookies)
        assert not any("machete" in c.lower() for c in cookies)

    def test_a_request_id_is_kept_or_made_and_echoed(
        self, ingress: Ingress, upstream: Make, tools_url: str
    ) -> None:
        ingress.publish(route("alpha", upstream("a")))
        _s, body, resp = self.get(tools_url, "/tools/alpha/", **{"X-Request-ID": "abc-123"})
        assert body["headers"]["x-request-id"] == "abc-123"
        assert resp.headers["X-Request-ID"] == "abc-123"
        for bad in ("bad id", "x" * 65, "-starts-badly"):
            _s, body, resp = self.get(tools_url, "/tools/alpha/", **{"X-Request-ID": bad})
            made = body["headers"]["x-request-id"]
            assert made != bad and made == resp.headers["X-Request-ID"]

    def test_a_withdrawn_tool_is_not_served(
        self, ingress: Ingress, upstream: Make, tools_url: str
    ) -> None:
        a = upstream("a")
        ingress.publish(route("alpha", a))
        ingress.withdraw("alpha")
        before = a.requests
        status, _b, _ = self.get(tools_url, "/tools/alpha/")
        assert status == 404 and a.requests == before

    def test_a_tool_not_running_answers_503(
        self, ingress: Ingress, upstream: Make, tools_url: str
    ) -> None:
        ingress.publish(route("alpha"))
        status, body, _ = self.get(tools_url, "/tools/alpha/")
        assert status == 503
        assert body["error"]["code"] == "tool_unavailable"

    def test_the_switch_loses_no_request(
        self, ingress: Ingress, upstream: Make, tools_url: str
    ) -> None:
        a, b = upstream("a"), upstream("b")
        ingress.publish(route("alpha", a, release=1))
        failures: list[Any] = []
        seen: list[str] = []
        stop = threading.Event()

        def hammer() -> None:
            while not stop.is_set():
                try:
                    status, body, _ = self.get(tools_url, "/tools/alpha/")
                    if status != 200:
                        failures.append(status)
                    else:
                        seen.append(body["upstream"])
                except OSError as exc:
                    failures.append(exc)

        thread = threading.Thread(target=hammer)
        thread.start()
        try:
            time.sleep(0.3)
            for i in range(6):
                ingress.publish(route("alpha", b if i % 2 == 0 else a, release=i + 2))
                time.sleep(0.15)
        finally:
            stop.set()
            thread.join()
        assert failures == [], failures[:5]
        assert {"a", "b"} <= set(seen)
        assert seen[-1] == "a"

    def test_replicas_share_the_requests(
        self, ingress: Ingress, upstream: Make, tools_url: str
    ) -> None:
        a, b = upstream("a"), upstream("b")
        ingress.publish(route("alpha", a, b))
        answered = {self.get(tools_url, "/tools/alpha/")[1]["upstream"] for _ in range(8)}
        assert answered == {"a", "b"}

    def test_drain_waits_for_requests_in_flight(
        self, ingress: Ingress, upstream: Make, tools_url: str
    ) -> None:
        a, b = upstream("a"), upstream("b")
        ingress.publish(route("alpha", a))
        result: list[int] = []
        slow = threading.Thread(
            target=lambda: result.append(self.get(tools_url, "/tools/alpha/slow")[0])
        )
        slow.start()
        time.sleep(0.3)
        ingress.publish(route("alpha", b, release=2))
        started = time.monotonic()
        ingress.drain("alpha", [a.endpoint], 3.0)
        waited = time.monotonic() - started
        a_stopped_now = list(result)
        slow.join()
        # Not before the request in flight to the old upstream was answered, whole.
        assert a_stopped_now == [200] and result == [200]
        assert waited < 3.5

    def test_a_stream_comes_as_it_is_written(
        self, ingress: Ingress, upstream: Make, tools_url: str
    ) -> None:
        ingress.publish(route("alpha", upstream("a")))
        parts = urlsplit(tools_url)
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
        conn.request("GET", "/tools/alpha/stream")
        resp = conn.getresponse()
        started = time.monotonic()
        first = resp.read1(64)
        first_at = time.monotonic() - started
        rest = resp.read()
        conn.close()
        assert first.startswith(b"data: 0")
        assert first_at < 0.2  # not held back until the whole answer was there
        assert b"data: 2" in first + rest

    def test_a_websocket_passes_through(
        self, ingress: Ingress, upstream: Make, tools_url: str
    ) -> None:
        ingress.publish(route("alpha", upstream("a")))

        async def talk() -> str:
            async with aiohttp.ClientSession() as session:
                async with session.ws_connect(f"{tools_url}/tools/alpha/ws") as ws:
                    await ws.send_str("hello")
                    return str(await ws.receive_str(timeout=5))

        assert asyncio.run(talk()) == "a:hello"
