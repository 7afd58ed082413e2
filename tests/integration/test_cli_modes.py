"""The CLI suite in both modes: on this machine's state directly (local mode), and through a
running server (client mode: the CLI finds the server of its state directory and sends every
command over the API). Same commands, same assertions; then, on one state, the same commands
with and without ``--local`` must print the very same bytes and exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import owned_objects
from tests.support.cli import run_cli as machete
from tests.support.git_server import GitHTTPServer, make_repo
from tests.support.http import get_text
from tests.support.images import http_tool_files
from tests.support.ports import free_port
from tests.support.server import running_server


@pytest.fixture(params=["local", "client"])
def mode(request: pytest.FixtureRequest, env: dict[str, str]) -> Iterator[tuple[str, dict]]:
    env = {**env, "MACHETE_TOOLS_PORT": str(free_port())}
    if request.param == "local":
        yield "local", env
        return
    with running_server(env):
        yield "client", env


def _repo(git_server: GitHTTPServer, body: str, slow_start: bool = False) -> str:
    repo = f"cli{uuid.uuid4().hex[:6]}"
    files = http_tool_files(body)
    if slow_start:  # each deploy takes a few seconds: time to press Ctrl-C
        files["Dockerfile"] = files["Dockerfile"].replace('"echo tool', '"sleep 4; echo tool')
    make_repo(git_server.root, repo, files)
    return git_server.url(f"{repo}.git")


def test_the_cli_suite(
    mode: tuple[str, dict[str, str]],
    git_server: GitHTTPServer,
    busybox_image: str,
    installation: str,
    tmp_path: Path,
) -> None:
    kind, env = mode
    status = json.loads(machete(env, "auth", "status", "--json").stdout)
    assert status["mode"] == kind  # the server was found (client), or there is none (local)

    url = _repo(git_server, "served by the cli tool")
    installed = machete(env, "install", url, "--name", "clitool")
    assert "[3/7] build" in installed.stdout  # progress with numbered steps, live
    assert "load build definition" in installed.stdout  # the builder's output, streamed
    assert "installed clitool: running" in installed.stdout

    tools = json.loads(machete(env, "ls", "--json").stdout)
    assert [(t["name"], t["status"]) for t in tools] == [("clitool", "running")]
    view = json.loads(machete(env, "status", "clitool", "--json").stdout)
    assert view["health"] == "healthy" and view["release"] == 1
    assert get_text(view["url"] + "/") == "served by the cli tool\n"
    assert "clitool" in machete(env, "ls").stdout
    assert "tool starting on 8080" in machete(env, "logs", "clitool", "--tail", "20").stdout

    assert "stopped" in machete(env, "stop", "clitool").stdout
    assert json.loads(machete(env, "status", "clitool", "--json").stdout)["status"] == "stopped"
    assert "running" in machete(env, "start", "clitool").stdout
    assert "running" in machete(env, "restart", "clitool").stdout
    assert "nothing to do" in machete(env, "deploy", "clitool").stdout

    ops = json.loads(machete(env, "operations", "clitool", "--json").stdout)
    assert [o["kind"] for o in ops][:3] == ["deploy", "restart", "start"]
    assert all(o["status"] == "succeeded" for o in ops)
    shown = machete(env, "operation", ops[0]["id"]).stdout
    assert "deploy of clitool by local:machete CLI: succeeded" in shown
    assert f"{ops[0]['id']} has already ended" in machete(env, "cancel", ops[0]["id"]).stdout
    rels = json.loads(machete(env, "releases", "clitool", "--json").stdout)
    assert rels[0]["status"] == "live" and rels[0]["builder"] == "buildx"

    assert "builder docker" in machete(env, "set", "clitool", "--builder", "docker").stdout
    machete(env, "deploy", "clitool", "--force")
    rels = json.loads(machete(env, "releases", "clitool", "--json").stdout)
    assert rels[0]["builder"] == "docker" and rels[0]["status"] == "live"

    applied = machete(env, "config", "set", "clitool", "A=1", "B=2")
    assert "configuration applied in release 3" in applied.stdout
    machete(env, "config", "unset", "clitool", "A", "B")  # both in one release
    assert json.loads(machete(env, "status", "clitool", "--json").stdout)["release"] == 4
    assert machete(env, "config", "clitool").stdout.strip() == ""

    events = [
        json.loads(line)
        for line in machete(env, "events", "--json", "-n", "50").stdout.split("\n")
        if line
    ]
    assert any(e["kind"] == "release.live" and e["tool"] == "clitool" for e in events)

    missing = machete(env, "status", "nope", check=False)
    assert (missing.returncode, missing.stderr) == (
        1,
        "error [tool_not_found]: no tool named 'nope'\n",
    )
    # Refusals of the source policy name the setting that would allow what was refused.
    refused = machete(env, "install", "ssh://git@github.com/team/tool.git", check=False)
    assert refused.returncode == 1 and "error [source_not_allowed]" in refused.stderr
    assert "machete settings set allowed_schemes" in refused.stderr
    far = machete(env, "install", "http://192.0.2.7/team/tool.git", check=False)
    assert far.returncode == 1 and "machete settings set allowed_networks" in far.stderr

    # A folder of this machine is packed and streamed (an upload), its options going with it.
    folder = tmp_path / "folder-tool"
    for name, text in http_tool_files("from a folder").items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    out = machete(env, "install", str(folder), "--name", "fromdir", "--health-path", "/health")
    assert "installed fromdir: running" in out.stdout
    view = json.loads(machete(env, "status", "fromdir", "--json").stdout)
    assert view["overrides"] == {"health_path": "/health"} and view["source_url"].startswith(
        "upload:"
    )
    machete(env, "rm", "fromdir")

    assert "removed clitool" in machete(env, "rm", "clitool").stdout
    assert json.loads(machete(env, "ls", "--json").stdout) == []
    assert owned_objects(installation) == ([], [])


def test_a_failed_install_is_one_line(
    mode: tuple[str, dict[str, str]], git_server: GitHTTPServer, busybox_image: str
) -> None:
    _kind, env = mode
    repo = f"bad{uuid.uuid4().hex[:6]}"
    files = http_tool_files()
    files["Dockerfile"] += "RUN exit 9\n"
    make_repo(git_server.root, repo, files)
    out = machete(env, "install", git_server.url(f"{repo}.git"), check=False)
    assert out.returncode == 1
    assert "error [build_failed]" in out.stderr and "Traceback" not in out.stderr
    missing = machete(env, "install", git_server.url("nothing-here.git"), check=False)
    assert missing.returncode == 1 and "error [source_failed]" in missing.stderr


def test_both_modes_print_the_same(
    env: dict[str, str], git_server: GitHTTPServer, busybox_image: str
) -> None:
    """On one state with a server running: each command with ``--local`` (the core, here)
    and without (the server's API) prints the same bytes and ends with the same code."""
    env = {**env, "MACHETE_TOOLS_PORT": str(free_port())}
    with running_server(env):
        machete(env, "install", _repo(git_server, "same either way"), "--name", "same")
        machete(env, "config", "set", "same", "K=v")
        machete(env, "config", "set", "same", "S=hidden", "--secret")
        op = json.loads(machete(env, "operations", "same", "--json").stdout)[0]["id"]
        commands = [
            ["ls"],
            ["ls", "--json"],
            ["status", "same"],
            ["status", "same", "--json"],
            ["releases", "same"],
            ["releases", "same", "--json"],
            ["operations", "same"],
            ["operations", "--json"],
            ["operation", op],
            ["operation", op, "--json"],
            ["config", "same"],
            ["config", "same", "--json"],
            ["logs", "same", "--tail", "5"],
            ["events", "-n", "30", "--json"],
            ["plugins", "--json"],
            ["users", "list", "--json"],
            ["teams", "list"],
            ["audit", "--tool", "same", "--json"],
            ["status", "nope"],
            ["releases", "nope", "--json"],
            ["operation", "0" * 32],
            ["cancel", op],
            ["grant", "nobody", "--tool", "same", "--role", "viewer"],
        ]
        for command in commands:
            through = machete(env, *command, check=False)
            direct = machete(env, "--local", *command, check=False)
            assert (through.returncode, through.stdout, through.stderr) == (
                direct.returncode,
                direct.stdout,
                direct.stderr,
            ), command
        assert json.loads(machete(env, "auth", "status", "--json").stdout)["mode"] == "client"
        machete(env, "rm", "same")


def test_detach_and_ctrl_c(
    env: dict[str, str], git_server: GitHTTPServer, busybox_image: str
) -> None:
    """--detach returns at once; Ctrl-C without a terminal stops watching (the operation
    goes on); with one, it asks, and "y" cancels. Local mode has nobody to detach to."""
    local = machete(env, "deploy", "x", "--detach", check=False)
    assert local.returncode == 1 and "error [needs_server]" in local.stderr
    env = {**env, "MACHETE_TOOLS_PORT": str(free_port())}
    with running_server(env):
        machete(env, "install", _repo(git_server, "detached", slow_start=True), "--name", "det")
        started = machete(env, "deploy", "det", "--force", "--detach")
        op_id = started.stdout.split()[1]
        followed = machete(env, "operation", op_id, "-f")
        assert "deploy succeeded" in followed.stdout

        proc = _deploy_in_background(env, stdin=subprocess.DEVNULL)
        _wait_for(proc, "[1/")
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "stopped watching; operation" in err
        left_running = err.split("operation ")[1].split()[0]
        assert "deploy succeeded" in machete(env, "operation", left_running, "-f").stdout

        master, slave = os.openpty()
        proc = _deploy_in_background(env, stdin=slave)
        _wait_for(proc, "[1/")
        proc.send_signal(signal.SIGINT)
        os.write(master, b"y\n")
        _out, err = proc.communicate(timeout=120)
        os.close(master)
        os.close(slave)
        assert "cancel operation" in err and "cancelling" in err, (proc.returncode, _out, err)
        assert proc.returncode == 1 and "error [cancelled]" in err
        assert json.loads(machete(env, "status", "det", "--json").stdout)["status"] == "running"
        machete(env, "rm", "det")


def _deploy_in_background(env: dict[str, str], stdin: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "machete_cli", "deploy", "det", "--force"],
        env=env,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(proc: subprocess.Popen[str], text: str) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    seen = ""
    while text not in seen:
        assert time.monotonic() < deadline and proc.poll() is None, seen
        seen += proc.stdout.readline()


def test_login_as_a_person_and_the_errors_a_person_can_act_on(
    env: dict[str, str], tmp_path: Path
) -> None:
    """machete login keeps a CLI token (0600); commands go to that server as that person, who
    is refused what their role does not allow; logout revokes the token. Unreachable servers,
    revoked tokens and a stopped server each give one line with a code (TLS and API versions:
    tests/unit/test_cli_client.py)."""
    env = {k: v for k, v in env.items() if k != "MACHETE_HOME"}  # not this machine's state
    env["HOME"] = str(tmp_path)
    server_env = {**env, "MACHETE_HOME": str(tmp_path / "state")}
    with running_server(server_env) as (base, _proc):
        machete(
            server_env,
            "users",
            "add",
            "vera",
            "--role",
            "viewer",
            "--password-stdin",
            stdin="a viewer's password 1\n",
        )
        login = machete(
            env, "login", base, "-u", "vera", "--password-stdin", stdin="a viewer's password 1\n"
        )
        assert "signed in to" in login.stdout
        kept = Path(env["XDG_CONFIG_HOME"]) / "machete" / "hosts.toml"
        assert oct(kept.stat().st_mode & 0o777) == "0o600" and "mch_cli_" in kept.read_text()
        me = json.loads(machete(env, "auth", "status", "--json").stdout)
        assert me["mode"] == "client" and me["user"]["name"] == "vera"
        assert me["user"]["role"] == "viewer"
        assert json.loads(machete(env, "ls", "--json").stdout) == []
        refused = machete(
            env,
            "users",
            "add",
            "x",
            "--role",
            "viewer",
            "--password-stdin",
            stdin="another password 12\n",
            check=False,
        )
        assert refused.returncode == 1 and refused.stderr.startswith("error [forbidden]")
        assert machete(env, "backup", str(tmp_path / "b.tgz"), check=False).stderr.startswith(
            "error [needs_local_mode]"
        )
        token = kept.read_text().split('token = "')[1].split('"')[0]
        assert "its token is revoked" in machete(env, "logout").stdout
        revoked = machete({**env, "MACHETE_URL": base, "MACHETE_TOKEN": token}, "ls", check=False)
        assert revoked.returncode == 1
        assert revoked.stderr == (
            f"error [unauthenticated]: this token has been revoked: run machete login {base}\n"
        )
    gone = machete({**env, "MACHETE_URL": base}, "ls", check=False)
    assert gone.returncode == 1 and gone.stderr.startswith("error [server_unreachable]")
