"""The ``machete`` CLI as a user runs it: separate processes on one state directory."""

from __future__ import annotations

import json
import uuid

from tests.integration.conftest import owned_objects
from tests.support.cli import run_cli as machete
from tests.support.git_server import GitHTTPServer, make_repo
from tests.support.http import get_text
from tests.support.images import http_tool_files


def test_cli_end_to_end(
    env: dict[str, str], git_server: GitHTTPServer, busybox_image: str, installation: str
) -> None:
    repo = f"cli{uuid.uuid4().hex[:6]}"
    make_repo(git_server.root, repo, http_tool_files("served by the cli tool"))
    url = git_server.url(f"{repo}.git")

    installed = machete(env, "install", url, "--name", "clitool")
    assert "[3/6] build" in installed.stdout  # progress with numbered steps
    assert "load build definition" in installed.stdout  # buildx output streamed to the terminal
    assert "installed clitool: running" in installed.stdout

    tools = json.loads(machete(env, "ls", "--json").stdout)
    assert [(t["name"], t["status"]) for t in tools] == [("clitool", "running")]
    status = json.loads(machete(env, "status", "clitool", "--json").stdout)
    assert status["health"] == "healthy" and status["release"] == 1
    assert get_text(status["url"] + "/") == "served by the cli tool\n"
    assert "clitool" in machete(env, "ls").stdout

    logs = machete(env, "logs", "clitool", "--tail", "20").stdout
    assert "tool starting on 8080" in logs

    assert "stopped" in machete(env, "stop", "clitool").stdout
    assert json.loads(machete(env, "status", "clitool", "--json").stdout)["status"] == "stopped"
    assert "running" in machete(env, "start", "clitool").stdout
    assert "running" in machete(env, "restart", "clitool").stdout
    deployed = machete(env, "deploy", "clitool")
    assert "nothing to do" in deployed.stdout

    ops = json.loads(machete(env, "operations", "clitool", "--json").stdout)
    assert [o["kind"] for o in ops][:3] == ["deploy", "restart", "start"]
    assert all(o["status"] == "succeeded" for o in ops)
    rels = json.loads(machete(env, "releases", "clitool", "--json").stdout)
    assert rels[0]["status"] == "live" and rels[0]["builder"] == "buildx"  # auto picks buildx

    assert "builder docker" in machete(env, "set", "clitool", "--builder", "docker").stdout
    machete(env, "deploy", "clitool", "--force")
    rels = json.loads(machete(env, "releases", "clitool", "--json").stdout)
    assert rels[0]["builder"] == "docker" and rels[0]["status"] == "live"

    assert "removed clitool" in machete(env, "rm", "clitool").stdout
    assert json.loads(machete(env, "ls", "--json").stdout) == []
    assert owned_objects(installation) == ([], [])


def test_cli_install_failure_is_one_line(
    env: dict[str, str], git_server: GitHTTPServer, busybox_image: str
) -> None:
    repo = f"bad{uuid.uuid4().hex[:6]}"
    files = http_tool_files()
    files["Dockerfile"] += "RUN exit 9\n"
    make_repo(git_server.root, repo, files)
    out = machete(env, "install", git_server.url(f"{repo}.git"), check=False)
    assert out.returncode == 1
    assert "error [build_failed]" in out.stderr and "Traceback" not in out.stderr
    missing = machete(env, "install", git_server.url("nothing-here.git"), check=False)
    assert missing.returncode == 1 and "error [source_failed]" in missing.stderr
