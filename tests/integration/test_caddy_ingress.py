"""The ``caddy`` ingress against Debian's real Caddy: the ingress contract, managed (a child
of the server, admin API on a unix socket, restarted when it dies) and external (an
operator's Caddy, of which MACHETE touches only what it tagged); TLS from Caddy's internal
CA, checked with curl against the root Caddy made."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from machete_core.domain.routes import RouteHost
from machete_plugins.caddy.admin import AdminClient
from machete_plugins.caddy.config import server_name
from machete_plugins.caddy.ingress import CaddyIngress
from machete_plugins.testing.ingress_contract import RoutingIngressContract, route
from machete_plugins.testing.upstreams import Upstream
from tests.support.caddy import caddy_settings, external_caddy
from tests.support.ports import free_port


@pytest.fixture
def settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    return caddy_settings(tmp_path / "home", tools_domain="tools.test")


@pytest.fixture
def ingress(settings) -> Iterator[CaddyIngress]:  # type: ignore[no-untyped-def]
    made = CaddyIngress(settings)
    restarts: list[float] = []
    made.start(lambda: restarts.append(time.monotonic()))
    made.restarts = restarts  # type: ignore[attr-defined]
    yield made
    made.stop()


@pytest.fixture
def tools_url(settings) -> str:  # type: ignore[no-untyped-def]
    return f"http://127.0.0.1:{settings.effective_tools_port}"


class TestManagedCaddy(RoutingIngressContract):
    def test_its_admin_api_is_a_private_socket(self, ingress: CaddyIngress, settings) -> None:  # type: ignore[no-untyped-def]
        assert ingress.managed is not None
        sock = ingress.managed.socket
        assert sock.exists()
        assert (sock.parent.stat().st_mode & 0o077) == 0  # only this user reaches it
        # Nothing but the tools' ports listen on TCP for Caddy (no admin port at all).
        listening = subprocess.run(
            ["ss", "-ltnp"], capture_output=True, text=True, check=False
        ).stdout
        pid = str(ingress.managed.pid)
        ports = {
            line.split()[3].rsplit(":", 1)[1]
            for line in listening.splitlines()
            if f"pid={pid}," in line
        }
        assert ports <= {
            str(settings.effective_tools_port),
            str(settings.effective_caddy_https_port),
        }

    def test_a_crash_is_noticed_and_recovered(
        self,
        ingress: CaddyIngress,
        upstream,
        tools_url: str,  # type: ignore[no-untyped-def]
    ) -> None:
        ingress.publish(route("alpha", upstream("a")))
        assert ingress.managed is not None and ingress.managed.pid
        old = ingress.managed.pid
        os.kill(old, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while not ingress.restarts and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.1)
        assert ingress.restarts, "the supervisor did not start Caddy again"  # type: ignore[attr-defined]
        assert ingress.managed.pid != old
        assert ingress.health() is None
        # Its routes lived in the dead process only: the callback is where they come back.
        assert ingress.published() == []

    def test_tls_from_the_internal_ca(
        self,
        ingress: CaddyIngress,
        upstream,
        settings,  # type: ignore[no-untyped-def]
    ) -> None:
        a = upstream("a")
        ingress.publish(
            route(
                "alpha",
                a,
                hosts=(
                    RouteHost("alpha.tools.test", "internal"),
                    RouteHost("wiki.corp.example", "internal"),
                ),
            )
        )
        root = ingress.root_certificate()
        assert root and root.startswith("-----BEGIN CERTIFICATE-----")
        ca = settings.home / "root.pem"
        ca.write_text(root)
        port = settings.effective_caddy_https_port
        for name in ("alpha.tools.test", "wiki.corp.example"):
            done = _curl(
                "--cacert",
                str(ca),
                "--resolve",
                f"{name}:{port}:127.0.0.1",
                f"https://{name}:{port}/x",
            )
            assert done.returncode == 0, done.stderr
            assert json.loads(done.stdout)["upstream"] == "a"
        # Without the root, curl does not trust it: the certificate is the internal CA's.
        refused = _curl(
            "--resolve", f"alpha.tools.test:{port}:127.0.0.1", f"https://alpha.tools.test:{port}/"
        )
        assert refused.returncode == 60


def _curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["curl", "-sS", "--max-time", "20", *args], capture_output=True, text=True
    )


def test_external_caddy_keeps_the_operators_routes(tmp_path: Path) -> None:
    theirs = {"@id": "operator-site", "handle": [{"handler": "static_response", "body": "mine"}]}
    with external_caddy(tmp_path / "caddy", [theirs]) as admin:
        settings = caddy_settings(tmp_path / "home", caddy_admin=admin)
        ingress = CaddyIngress(settings)
        ingress.start(lambda: None)
        up = Upstream("a").start()
        try:
            ingress.publish(route("alpha", up))
            assert [p.tool for p in ingress.published()] == ["alpha"]
            ingress.withdraw("alpha")
            client = AdminClient(admin)
            assert client.call("GET", "/id/operator-site")["handle"][0]["body"] == "mine"
            # A route tagged by another installation on the same Caddy is not ours either.
            # (on the same server: one listener, one server in Caddy)
            other = CaddyIngress(
                caddy_settings(
                    tmp_path / "other", caddy_admin=admin, caddy_server=server_name(settings)
                )
            )
            other.publish(route("alpha", up))
            assert ingress.published() == []
            assert [p.tool for p in other.published()] == ["alpha"]
        finally:
            up.stop()


def test_an_unreachable_admin_api_is_a_clear_error(tmp_path: Path) -> None:
    settings = caddy_settings(tmp_path / "home", caddy_admin=f"http://127.0.0.1:{free_port()}")
    ingress = CaddyIngress(settings)
    assert "did not answer" in (ingress.health() or "")
    up = Upstream("a").start()
    try:
        with pytest.raises(Exception) as caught:
            ingress.publish(route("alpha", up))
        assert getattr(caught.value, "code", "") == "ingress_failed"
    finally:
        up.stop()
