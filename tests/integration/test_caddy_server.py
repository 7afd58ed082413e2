"""``machete serve`` with Caddy as its ingress, against real tools: a Caddy that dies, a
route removed behind MACHETE's back, a server killed outright (Caddy goes on serving and
the next server adopts it), TLS on the tools domain and a custom domain checked with curl
against Caddy's root, and the crash harness at the new ``route`` step with an external
Caddy."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from machete_core.machete import create_machete
from machete_core.pipeline.faults import CRASH_ENV, CRASH_EXIT_STATUS
from machete_core.settings import Settings
from machete_plugins import BUILTIN_PLUGINS
from machete_plugins.caddy.admin import AdminClient
from machete_plugins.caddy.config import route_id
from machete_plugins.caddy.process import admin_socket
from machete_plugins.testing.runtime_contract import until
from tests.support.caddy import caddy_env, external_caddy
from tests.support.cli import run_cli
from tests.support.git_server import GitHTTPServer, commit_and_push, make_repo
from tests.support.http import auth_headers, request
from tests.support.images import http_tool_files
from tests.support.ports import free_port
from tests.support.server import call, running_server, tools_base, wait_op


def install(base: str, git: GitHTTPServer, name: str, body: str) -> Path:
    repo = f"{name}{uuid.uuid4().hex[:6]}"
    work = make_repo(git.root, repo, http_tool_files(body))
    _s, answer = call("POST", f"{base}/api/tools", {"url": git.url(f"{repo}.git"), "name": name})
    assert wait_op(base, answer["operation_id"])["status"] == "succeeded"
    return work


def through_caddy(base: str, tool: str) -> tuple[int, bytes]:
    """The tool's answer through Caddy; ``(0, b"")`` while nothing listens (a restart)."""
    try:
        return request(f"{tools_base(base)}/tools/{tool}/", timeout=5)
    except OSError:
        return 0, b""


@pytest.fixture
def caddy_server(env: dict[str, str], busybox_image: str) -> Iterator[tuple[str, dict[str, str]]]:
    served = {
        **env,
        **caddy_env(MACHETE_TOOLS_DOMAIN="tools.test"),
        "MACHETE_DRAIN_SECONDS": "0.5",
        "MACHETE_RECONCILE_INTERVAL": "1",
    }
    with running_server(served) as (base, _proc):
        yield base, served


def settings_of(env: dict[str, str]) -> Settings:
    return Settings.from_env(env)


def test_a_caddy_that_dies_is_started_again_with_every_route(
    caddy_server: tuple[str, dict[str, str]], git_server: GitHTTPServer
) -> None:
    base, env = caddy_server
    install(base, git_server, "phoenix", "still here")
    assert through_caddy(base, "phoenix") == (200, b"still here\n")
    pidfile = admin_socket(settings_of(env)).with_name("caddy.pid")
    old = int(pidfile.read_text())
    # Go's CPUs are the server's to give (MACHETE_CADDY_CPUS), not inherited.
    given = Path(f"/proc/{old}/environ").read_bytes().split(b"\0")
    assert f"GOMAXPROCS={settings_of(env).effective_caddy_cpus}".encode() in given
    os.kill(old, signal.SIGKILL)
    until(lambda: through_caddy(base, "phoenix") == (200, b"still here\n"), what="the route back")
    assert int(pidfile.read_text()) != old
    _s, body = call("GET", f"{base}/api/ingress")
    assert body["ingress"]["problem"] is None
    assert {r["tool"]: r["state"] for r in body["ingress"]["routes"]} == {"phoenix": "published"}


def test_a_route_removed_behind_machetes_back_is_put_back(
    caddy_server: tuple[str, dict[str, str]], git_server: GitHTTPServer
) -> None:
    base, env = caddy_server
    install(base, git_server, "sturdy", "sturdy page")
    settings = settings_of(env)
    admin = AdminClient(f"unix/{admin_socket(settings)}")
    admin.call("DELETE", f"/id/{route_id(settings, 'sturdy')}")
    assert through_caddy(base, "sturdy")[0] == 404
    # The next reconciler round (every second here) publishes it again.
    until(lambda: through_caddy(base, "sturdy") == (200, b"sturdy page\n"), what="the route")


def test_tls_on_the_tools_domain_and_a_custom_domain(
    caddy_server: tuple[str, dict[str, str]], git_server: GitHTTPServer, tmp_path: Path
) -> None:
    base, env = caddy_server
    install(base, git_server, "wiki", "wiki page")
    status, added = call(
        "POST", f"{base}/api/tools/wiki/domains", {"name": "Wiki.Corp.Test", "tls": "internal"}
    )
    assert status == 201 and added["domain"]["name"] == "wiki.corp.test", added
    _s, ca = call("GET", f"{base}/api/ingress/ca")
    root = tmp_path / "root.pem"
    root.write_text(ca["root_certificate"])
    port = env["MACHETE_CADDY_HTTPS_PORT"]
    token = auth_headers(tools_base(base))["Authorization"]

    def curl(name: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                "curl",
                "-sS",
                "--max-time",
                "20",
                "--resolve",
                f"{name}:{port}:127.0.0.1",
                "-H",
                f"Authorization: {token}",
                *extra,
                f"https://{name}:{port}/",
            ],
            capture_output=True,
            text=True,
        )

    for name in ("wiki.tools.test", "wiki.corp.test"):
        done = until(
            lambda name=name: (r := curl(name, "--cacert", str(root))).returncode == 0 and r,
            what=f"https://{name}",
        )
        assert done.stdout == "wiki page\n", done
    # Only Caddy's own root vouches for them.
    assert curl("wiki.tools.test").returncode == 60
    # A members tool asks the server even over TLS: no token, no page.
    anonymous = subprocess.run(
        [
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--cacert",
            str(root),
            "--resolve",
            f"wiki.tools.test:{port}:127.0.0.1",
            f"https://wiki.tools.test:{port}/",
        ],
        capture_output=True,
        text=True,
    )
    assert anonymous.stdout == "401"
    status, _ = call("DELETE", f"{base}/api/tools/wiki/domains/wiki.corp.test")
    assert status == 200
    gone = curl("wiki.corp.test", "--cacert", str(root))
    assert "wiki page" not in gone.stdout


def test_a_killed_server_leaves_caddy_serving_and_the_next_server_adopts_it(
    env: dict[str, str], busybox_image: str, git_server: GitHTTPServer
) -> None:
    served = {**env, **caddy_env()}
    pidfile = admin_socket(settings_of(served)).with_name("caddy.pid")
    with running_server(served) as (base, proc):
        install(base, git_server, "steady", "steady page")
        # Public: with the server gone, no one could answer Caddy's question for others.
        assert call("PUT", f"{base}/api/tools/steady/access", {"access": "public"})[0] == 200
        caddy = int(pidfile.read_text())
        tools = tools_base(base)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert request(f"{tools}/tools/steady/") == (200, b"steady page\n")
    served["MACHETE_TOOLS_PORT"] = tools.rsplit(":", 1)[1]
    with running_server(served) as (base, _proc):
        assert int(pidfile.read_text()) == caddy  # the same Caddy: no data-plane restart
        assert request(f"{tools_base(base)}/tools/steady/") == (200, b"steady page\n")
        _s, body = call("GET", f"{base}/api/ingress")
        assert body["ingress"]["problem"] is None
    # A graceful stop of the server stops the Caddy it took over.
    until(lambda: not _alive(caddy), what="Caddy to stop with the server")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_crash_at_the_route_step_is_finished_by_the_reconciler(
    env: dict[str, str], busybox_image: str, git_server: GitHTTPServer, tmp_path: Path, when: str
) -> None:
    """The CLI on the state (no server) with an operator's Caddy: killed as it is about to
    publish the new route (or just after), it leaves the old release serving through Caddy
    (or the new one), and the next process's reconciler makes Caddy and the engine agree."""
    with external_caddy(tmp_path / "caddy") as admin:
        local = {
            **env,
            "MACHETE_INGRESS": "caddy",
            "MACHETE_CADDY_ADMIN": admin,
            "MACHETE_TOOLS_PORT": str(free_port()),
            "MACHETE_CADDY_HTTPS_PORT": str(free_port()),
            "MACHETE_DRAIN_SECONDS": "0.1",
        }
        tools = f"http://127.0.0.1:{local['MACHETE_TOOLS_PORT']}"
        repo = f"cut{uuid.uuid4().hex[:6]}"
        work = make_repo(git_server.root, repo, http_tool_files("old"))
        run_cli(local, "install", git_server.url(f"{repo}.git"), "--name", "cut")
        m = create_machete(settings_of(local), builtins=BUILTIN_PLUGINS)
        try:
            m.set_access("cut", "public")  # no server to answer Caddy's question
            assert request(f"{tools}/tools/cut/") == (200, b"old\n")
            commit_and_push(work, http_tool_files("new"))
            out = run_cli({**local, CRASH_ENV: f"route:{when}"}, "deploy", "cut", check=False)
            assert out.returncode == CRASH_EXIT_STATUS, out.stderr[-1500:]
            # Never nothing: before the route, the old release still serves (the database
            # already names the new one); after it, the new one does.
            expected = b"old\n" if when == "before" else b"new\n"
            assert request(f"{tools}/tools/cut/") == (200, expected)
            run_cli(local, "reconcile")
            assert request(f"{tools}/tools/cut/") == (200, b"new\n")
            view = m.domains.ingress()
            assert {r.tool: r.state for r in view.routes} == {"cut": "published"}
            assert len([r for r in m.releases("cut") if r.status == "live"]) == 1
        finally:
            m.close()
