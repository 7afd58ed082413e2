"""Operations across real processes: cancel from elsewhere, --wait, events of every process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from machete_core.machete import Machete
from tests.integration.conftest import owned_objects
from tests.support.cli import run_cli
from tests.support.git_server import GitHTTPServer, commit_and_push
from tests.support.http import auth_headers, get_text
from tests.support.images import http_tool_files
from tests.support.server import running_server
from tests.support.tools import installed_tool


def slow_build(body: str) -> dict[str, str]:
    files = http_tool_files(body)
    files["Dockerfile"] = files["Dockerfile"].replace(
        "COPY www /www\n", "COPY www /www\nRUN sleep 120\n"
    )
    return files


def until_step(machete: Machete, tool: str, step: str, timeout: float = 120) -> str:
    """The id of the tool's newest operation once it is running ``step``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ops = machete.operations(tool, limit=1)
        if ops and any(
            s.name == step and s.status == "running" for s in machete.operation(ops[0].id).steps
        ):
            return ops[0].id
        time.sleep(0.1)
    raise AssertionError(f"{tool} never reached {step}")


def until_text(path: Path, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text():
            return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared in {path.read_text()!r}")


def test_cancel_from_another_process_stops_the_build(
    tmp_path: Path,
    machete: Machete,
    env: dict[str, str],
    git_server: GitHTTPServer,
    installation: str,
    busybox_image: str,
) -> None:
    work = installed_tool(env, git_server, "steady", "steady")
    before = owned_objects(installation)
    commit_and_push(work, slow_build("never"))
    deploying = subprocess.Popen(
        [sys.executable, "-m", "machete_cli", "deploy", "steady"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        op_id = until_step(machete, "steady", "build")
        # A second change meanwhile is refused, or waits with --wait (checked below).
        busy = run_cli(env, "restart", "steady", check=False)
        assert busy.returncode == 1 and "tool_busy" in busy.stderr
        waiter_err = tmp_path / "waiter.err"
        with waiter_err.open("w") as err_file:
            waiter = subprocess.Popen(
                [sys.executable, "-m", "machete_cli", "restart", "steady", "--wait"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=err_file,
                text=True,
            )
        # Cancel only once the waiter has seen the tool busy: cancelling first would let
        # the restart start at once, and the wait would go untested.
        until_text(waiter_err, f"busy with operation {op_id}")
        assert "cancelling" in run_cli(env, "cancel", op_id).stdout
        _out, err = deploying.communicate(timeout=60)  # far less than the build's sleep
        assert deploying.returncode == 1 and "[cancelled]" in err
        out, _ = waiter.communicate(timeout=120)
        assert waiter.returncode == 0, waiter_err.read_text()
        assert "running" in out
    finally:
        deploying.kill()
    op = machete.operation(op_id)
    assert op.status == "cancelled"
    assert get_text(machete.get("steady").url + "/").strip() == "steady"
    assert owned_objects(installation)[0] == before[0]  # no new instance left behind
    assert "cancelled" in run_cli(env, "operation", op_id).stdout


def test_the_event_stream_carries_the_cli_s_deploy(
    machete: Machete, env: dict[str, str], git_server: GitHTTPServer, busybox_image: str
) -> None:
    work = installed_tool(env, git_server, "watched", "one")
    commit_and_push(work, http_tool_files("two"))
    with running_server(env) as (base, _proc):

        async def watch() -> list[dict[str, Any]]:
            seen: list[dict[str, Any]] = []
            async with aiohttp.ClientSession() as session:
                async with session.ws_connect(
                    f"{base.replace('http', 'ws')}/api/events?tool=watched",
                    headers=auth_headers(base),
                ) as ws:
                    deploy = await asyncio.create_subprocess_exec(
                        sys.executable,
                        "-m",
                        "machete_cli",
                        "deploy",
                        "watched",
                        env=env,
                        stdout=asyncio.subprocess.DEVNULL,
                    )
                    while not any(e["kind"] == "operation.finished" for e in seen):
                        seen.append(await ws.receive_json(timeout=120))
                    assert await deploy.wait() == 0
            return seen

        seen = asyncio.run(watch())
        kinds = [e["kind"] for e in seen]
        assert kinds[0] == "operation.started" and "release.live" in kinds
        assert {e["operation_id"] for e in seen} == {seen[0]["operation_id"]}
        # The router heard of the CLI's promotion too: the proxy serves the new release.
        assert get_text(f"{base}/tools/watched/").strip() == "two"
    tail = run_cli(env, "events", "--tool", "watched", "-n", "50").stdout
    assert "release.live" in tail and "operation.finished" in tail


def test_logs_follow_the_tool_across_a_deploy(
    env: dict[str, str], git_server: GitHTTPServer, busybox_image: str
) -> None:
    import threading

    work = installed_tool(env, git_server, "followed", "first")
    follower = subprocess.Popen(
        [sys.executable, "-m", "machete_cli", "logs", "followed", "-f"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(iter(follower.stdout.readline, "")))  # type: ignore[union-attr]
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while not any("tool starting" in line for line in seen):
            assert time.monotonic() < deadline, seen
            time.sleep(0.1)
        commit_and_push(work, http_tool_files("second"))
        run_cli(env, "deploy", "followed")
        deadline = time.monotonic() + 30
        while True:
            text = "".join(seen)
            switched = text.find("now following release 2")
            if switched >= 0 and "tool starting" in text[switched:]:
                break  # the new release's output, after the switch
            assert time.monotonic() < deadline, seen
            time.sleep(0.1)
        assert "--- machete: release.live" in text and "release=2" in text
    finally:
        follower.terminate()
        follower.wait(timeout=30)
        reader.join(10)
