"""The built-in ingress runs in a process of its own (``machete_web/proxy/worker.py``): the
server starts it on the tools port it holds, starts it again when it dies (same port, no
refused connection), stops it with itself, and adds its proxy metrics to ``/metrics``."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from prometheus_client.parser import text_string_to_metric_families

from machete_core.machete import create_machete
from machete_core.settings import Settings
from tests.support.cli import run_cli
from tests.support.git_server import GitHTTPServer, make_repo
from tests.support.http import request
from tests.support.images import http_tool_files
from tests.support.server import SERVER_LOGS, call, running_server, tools_base, wait_op


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The parent pid is the second field after the parenthesised command name.
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def listener_pid(server: subprocess.Popen[str], timeout: float = 30) -> int:
    """The pid of the server's tools' listener process (waits for one to be there)."""
    deadline = time.monotonic() + timeout
    while True:
        for pid in _children(server.pid):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"machete_web.proxy.worker" in cmdline:
                return pid
        assert time.monotonic() < deadline, "no tools' listener process"
        time.sleep(0.1)


def gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return True
        if stat.rpartition(")")[2].split()[0] == "Z":
            return True  # ended; its parent has not reaped it yet
        time.sleep(0.05)
    return False


@pytest.fixture
def server(env: dict[str, str], busybox_image: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    with running_server(env) as (base, proc):
        yield base, proc


def _install(base: str, git_server: GitHTTPServer, name: str) -> None:
    repo = f"{name}{uuid.uuid4().hex[:6]}"
    make_repo(git_server.root, repo, http_tool_files(f"{name} page"))
    _status, body = call(
        "POST", f"{base}/api/tools", {"url": git_server.url(f"{repo}.git"), "name": name}
    )
    assert wait_op(base, body["operation_id"])["status"] == "succeeded"


def test_a_dead_listener_is_started_again_on_the_same_port_without_refusing_anyone(
    server: tuple[str, subprocess.Popen[str]], git_server: GitHTTPServer, env: dict[str, str]
) -> None:
    base, proc = server
    _install(base, git_server, "lives")
    tools = tools_base(base)
    assert request(f"{tools}/tools/lives/") == (200, b"lives page\n")
    first = listener_pid(proc)
    assert first != proc.pid
    # It serves on uvloop's event loop (a dependency here), not asyncio's.
    assert "uvloop/loop" in Path(f"/proc/{first}/maps").read_text()

    answers: list[tuple[int, bytes]] = []
    os.kill(first, signal.SIGKILL)
    # Asked while no process serves the port: the connection waits in the server's backlog
    # and is answered by the next listener.
    asker = threading.Thread(
        target=lambda: answers.append(request(f"{tools}/tools/lives/", timeout=60))
    )
    asker.start()
    asker.join(90)
    assert answers == [(200, b"lives page\n")]
    second = listener_pid(proc)
    assert second != first
    log = SERVER_LOGS[base].read_text()
    assert f"the tools listener (pid {first}) ended with status -9" in log
    # What the server says of it: the new process, started again once after a SIGKILL.
    _s, body = call("GET", f"{base}/api/ingress")
    assert body["ingress"]["problem"] is None
    assert body["ingress"]["listener"] == {
        "pid": second,
        "port": int(urlsplit(tools).port or 0),
        "running": True,
        "restarts": 1,
        "last_exit": -9,
    }
    shown = run_cli(env, "ingress", "status").stdout
    assert f"listener: pid {second} on port {urlsplit(tools).port}, running, started again 1" in (
        shown
    )
    assert "last ended with status -9" in shown


def test_the_listener_ends_with_the_server_however_the_server_ends(
    env: dict[str, str], busybox_image: str
) -> None:
    with running_server(env) as (_base, proc):
        listener = listener_pid(proc)
        proc.terminate()
        assert proc.wait(30) == 0
        assert gone(listener, 5)
    with running_server(env) as (_base, proc):
        listener = listener_pid(proc)
        # No chance to clean up: the listener sees its standard input end and stops itself.
        proc.kill()
        proc.wait(30)
        assert gone(listener, 15)


def test_proxy_metrics_come_from_the_listener_into_the_servers_exposition(
    server: tuple[str, subprocess.Popen[str]], git_server: GitHTTPServer
) -> None:
    base, _proc = server
    _install(base, git_server, "counted")
    for _ in range(3):
        assert request(f"{tools_base(base)}/tools/counted/")[0] == 200
    status, body = request(f"{base}/metrics")
    assert status == 200
    text = body.decode()
    # One family, once: the server's own proxy families left its registry for the listener's.
    assert text.count("# TYPE machete_proxy_requests_total counter") == 1
    families = {family.name: family for family in text_string_to_metric_families(text)}
    served = [
        sample
        for sample in families["machete_proxy_requests"].samples
        if sample.name == "machete_proxy_requests_total" and sample.labels["tool"] == "counted"
    ]
    assert sum(sample.value for sample in served) == 3
    # The server's own families are still there beside them.
    up = [s for s in families["machete_tool_up"].samples if s.labels["tool"] == "counted"]
    assert [s.value for s in up] == [1.0]
    assert families["machete_build_info"].samples


def test_access_changes_reach_the_listener(
    server: tuple[str, subprocess.Popen[str]], git_server: GitHTTPServer
) -> None:
    """The server tells its listener of its own changes as they happen: the request right
    after the answer already meets them (the event log would bring them a poll later)."""
    base, _proc = server
    _install(base, git_server, "guarded")
    page = f"{tools_base(base)}/tools/guarded/"
    assert _anonymous_status(page) == 401  # members only, by default
    for _ in range(5):
        assert call("PUT", f"{base}/api/tools/guarded/access", {"access": "public"})[0] == 200
        assert _anonymous_status(page) == 200
        assert call("PUT", f"{base}/api/tools/guarded/access", {"access": "members"})[0] == 200
        assert _anonymous_status(page) == 401


def test_changes_by_another_process_reach_the_listener_by_the_event_log(
    server: tuple[str, subprocess.Popen[str]], git_server: GitHTTPServer, env: dict[str, str]
) -> None:
    """This test's process on the same state (as a script or the CLI in local mode would):
    its events come by the log."""
    base, _proc = server
    _install(base, git_server, "elsewhere")
    page = f"{tools_base(base)}/tools/elsewhere/"
    assert _anonymous_status(page) == 401
    with create_machete(Settings.from_env(env)) as machete:
        machete.set_access("elsewhere", "public")
    assert _eventually(lambda: _anonymous_status(page) == 200)


def _anonymous_status(url: str) -> int:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", parts.path)
        return conn.getresponse().status
    finally:
        conn.close()


def _eventually(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False
