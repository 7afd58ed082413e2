"""``machete serve`` as a real process: install and operate a tool over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.integration.conftest import owned_objects
from tests.support.git_server import GitHTTPServer, make_repo
from tests.support.http import get_text
from tests.support.images import http_tool_files
from tests.support.server import call, running_server, wait_op


@pytest.fixture
def server(env: dict[str, str], busybox_image: str) -> Iterator[str]:
    with running_server(env) as (base, _proc):
        yield base


def test_http_end_to_end(server: str, git_server: GitHTTPServer, installation: str) -> None:
    repo = f"web{uuid.uuid4().hex[:6]}"
    make_repo(git_server.root, repo, http_tool_files("served over http"))
    url = git_server.url(f"{repo}.git")

    status, body = call(
        "POST", f"{server}/api/tools/install", {"git_url": url, "name": "webtool", "branch": "main"}
    )
    assert status == 202 and body["success"] is True
    op = wait_op(server, body["operation_id"])
    assert op["status"] == "succeeded", op
    assert "load build definition" in op["log_text"] and "==> health" in op["log_text"]

    status, data = call("GET", f"{server}/api/tools")
    assert [t["name"] for t in data["tools"]] == ["webtool"]
    tool_id = data["tools"][0]["id"]
    status, data = call("GET", f"{server}/api/tools/{tool_id}")
    assert data["tool"]["name"] == "webtool" and data["tool"]["status"] == "running"
    assert get_text(data["tool"]["url"] + "/") == "served over http\n"
    _s, st = call("GET", f"{server}/api/tools/webtool/status")
    assert (st["status"], st["health"]) == ("running", "healthy")
    _s, health = call("GET", f"{server}/api/tools/webtool/health")
    assert health["healthy"] is True and health["status_code"] == 200
    _s, logs = call("GET", f"{server}/api/tools/webtool/logs?tail=10")
    assert any("tool starting" in line for line in logs["lines"])

    for action, expected in (
        ("stop", "stopped"),
        ("start", "running"),
        ("restart", "running"),
        ("deploy", "running"),
    ):
        status, body = call("POST", f"{server}/api/tools/webtool/{action}")
        assert status == 202
        assert wait_op(server, body["operation_id"])["status"] == "succeeded"
        assert call("GET", f"{server}/api/tools/webtool/status")[1]["status"] == expected

    status, body = call("POST", f"{server}/api/tools/webtool/build")
    assert wait_op(server, body["operation_id"])["status"] == "succeeded"
    _s, rels = call("GET", f"{server}/api/tools/webtool/releases")
    assert [r["status"] for r in rels["releases"]] == ["built", "live"]

    status, body = call("POST", f"{server}/api/tools", {"url": url, "name": "webtool"})
    assert status == 409 and body["error"]["code"] == "tool_exists"

    status, body = call("DELETE", f"{server}/api/tools/webtool")
    assert status == 202 and wait_op(server, body["operation_id"])["status"] == "succeeded"
    assert call("GET", f"{server}/api/tools")[1] == {"tools": []}
    assert call("GET", f"{server}/api/tools/webtool")[0] == 404
    assert owned_objects(installation) == ([], [])


def test_http_install_failure_is_recorded(server: str, git_server: GitHTTPServer) -> None:
    status, body = call("POST", f"{server}/api/tools", {"url": git_server.url("absent.git")})
    assert status == 202
    op = wait_op(server, body["operation_id"])
    assert op["status"] == "failed" and op["error_code"] == "source_failed"
