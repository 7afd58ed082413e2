"""Two ``machete serve`` processes on one PostgreSQL and one engine cooperate.

Each server has its own state directory (as on two hosts) and shares the database, the secret
key and the installation. Deploys go through each; the same deploy asked of both at once runs
once; both route every tool; their reconcilers (every second here) and health monitors run
side by side for the whole test without ever undoing each other's work.
"""

from __future__ import annotations

import base64
import os
import threading
import time
import uuid
from pathlib import Path

from tests.conftest import LOOPBACK
from tests.integration.conftest import owned_objects
from tests.support.git_server import GitHTTPServer, commit_and_push, make_repo
from tests.support.http import get_text
from tests.support.images import http_tool_files
from tests.support.postgres import PostgresServer
from tests.support.server import call, running_server, wait_op


def server_env(home: Path, database_url: str, installation: str, key: str) -> dict[str, str]:
    return {
        **os.environ,
        "MACHETE_HOME": str(home),
        "MACHETE_DATABASE_URL": database_url,
        "MACHETE_INSTALLATION": installation,
        "MACHETE_SECRET_KEY": key,
        "MACHETE_ALLOWED_SCHEMES": "http",
        "MACHETE_ACCEPT_ENGINE_BELOW_FLOOR": "true",
        "MACHETE_ALLOWED_NETWORKS": ",".join(LOOPBACK),
        "MACHETE_HEALTH_INTERVAL": "0.2",
        "MACHETE_DRAIN_SECONDS": "0.5",
        "MACHETE_RECONCILE_INTERVAL": "1",
        "MACHETE_HEALTH_CHECK_INTERVAL": "1",
    }


def install(base: str, url: str, name: str) -> None:
    status, body = call("POST", f"{base}/api/tools", {"url": url, "name": name})
    assert status == 202, body
    assert wait_op(base, body["operation_id"])["status"] == "succeeded"


def deploy(base: str, name: str) -> None:
    status, body = call("POST", f"{base}/api/tools/{name}/deploy", {})
    assert status == 202, body
    assert wait_op(base, body["operation_id"])["status"] == "succeeded"


def test_two_servers_on_one_postgresql(
    postgres: PostgresServer,
    tmp_path: Path,
    git_server: GitHTTPServer,
    installation: str,
    busybox_image: str,
) -> None:
    url = postgres.new_database()
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    env_a = server_env(tmp_path / "a", url, installation, key)
    env_b = server_env(tmp_path / "b", url, installation, key)
    repos = {}
    for name in ("alpha", "beta"):
        repo = f"{name}{uuid.uuid4().hex[:6]}"
        repos[name] = (make_repo(git_server.root, repo, http_tool_files(f"{name} 1")), repo)
    with running_server(env_a) as (a, _pa), running_server(env_b) as (b, _pb):
        install(a, git_server.url(f"{repos['alpha'][1]}.git"), "alpha")
        install(b, git_server.url(f"{repos['beta'][1]}.git"), "beta")
        for base in (a, b):  # each server routes every tool, whoever deployed it
            assert get_text(f"{base}/tools/alpha/").strip() == "alpha 1"
            assert get_text(f"{base}/tools/beta/").strip() == "beta 1"

        # Deploys through the other server.
        commit_and_push(repos["alpha"][0], http_tool_files("alpha 2"))
        deploy(b, "alpha")
        commit_and_push(repos["beta"][0], http_tool_files("beta 2"))
        deploy(a, "beta")
        assert get_text(f"{a}/tools/alpha/").strip() == "alpha 2"
        assert get_text(f"{b}/tools/beta/").strip() == "beta 2"

        # The same deploy asked of both at the same moment runs once.
        commit_and_push(repos["alpha"][0], http_tool_files("alpha 3"))
        answers: dict[str, tuple[int, dict[str, object]]] = {}
        start = threading.Barrier(2)

        def ask(base: str) -> None:
            start.wait()
            answers[base] = call("POST", f"{base}/api/tools/alpha/deploy", {})

        threads = [threading.Thread(target=ask, args=(base,)) for base in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        statuses = sorted(status for status, _ in answers.values())
        assert statuses == [202, 409], answers
        winner = next(base for base, (status, _) in answers.items() if status == 202)
        loser = next(body for status, body in answers.values() if status == 409)
        assert loser["error_code"] == "tool_busy"
        assert wait_op(winner, str(answers[winner][1]["operation_id"]))["status"] == "succeeded"
        assert get_text(f"{b}/tools/alpha/").strip() == "alpha 3"

        # Several reconciler and monitor rounds of both servers later, nothing was undone.
        live = owned_objects(installation)[0]
        assert len(live) == 2, live
        time.sleep(4)
        assert owned_objects(installation)[0] == live
        for base in (a, b):
            _s, tools = call("GET", f"{base}/api/tools")
            assert {(t["name"], t["status"]) for t in tools["tools"]} == {
                ("alpha", "running"),
                ("beta", "running"),
            }
        _s, ops = call("GET", f"{a}/api/operations?limit=50")
        assert {op["status"] for op in ops["operations"]} == {"succeeded"}
        # One monitor recorded each tool's health once, not once per server.
        _s, history = call("GET", f"{a}/api/tools/beta/health/history")
        assert [h["health"] for h in history["history"]] == ["healthy"]
        for name in ("alpha", "beta"):
            _status, body = call("DELETE", f"{a}/api/tools/{name}")
            assert wait_op(a, body["operation_id"])["status"] == "succeeded"
    assert owned_objects(installation) == ([], [])
