"""Notifications with a real ``machete serve``: a deploy's notification survives a kill of the
server between the commit that wrote it and its sending (the next server sends it), and the
``machete notify`` commands work through the server and on the state alike."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from machete_core.machete import create_machete
from machete_core.settings import Settings
from tests.support.cli import run_cli
from tests.support.git_server import GitHTTPServer, make_repo
from tests.support.images import http_tool_files
from tests.support.server import call, running_server, wait_op


class _Receiver(BaseHTTPRequestHandler):
    received: list[Any] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        type(self).received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[Any]]]:
    handler = type("Receiver", (_Receiver,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/chat", handler.received
    server.shutdown()
    server.server_close()


def until(check: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (got := check()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return got


def test_a_notification_survives_a_kill_between_commit_and_send(
    env: dict[str, str],
    busybox_image: str,
    git_server: GitHTTPServer,
    receiver: tuple[str, list[Any]],
) -> None:
    url, received = receiver
    env = {**env, "MACHETE_NOTIFY_ALLOWED_NETWORKS": "127.0.0.0/8"}
    repo = f"ntf{uuid.uuid4().hex[:6]}"
    make_repo(git_server.root, repo, http_tool_files("told"))
    # The first server writes notifications but never sends them (as if killed right after
    # each commit), and is then killed outright.
    with running_server({**env, "MACHETE_NOTIFY_INTERVAL": "0"}) as (base, proc):
        added = run_cli(env, "notify", "add", "chat", "slack", "-", "--json", stdin=url + "\n")
        assert json.loads(added.stdout)["channel"]["target"] == "http://127.0.0.1/…"
        _status, body = call(
            "POST", f"{base}/api/tools", {"url": git_server.url(f"{repo}.git"), "name": "told"}
        )
        assert wait_op(base, body["operation_id"])["status"] == "succeeded"
        proc.kill()
        proc.wait(timeout=30)
    assert received == []
    with running_server({**env, "MACHETE_NOTIFY_INTERVAL": "0.5"}) as (base, _proc):
        assert until(lambda: received), "the next server never sent the notification"
        deliveries = json.loads(run_cli(env, "notify", "deliveries", "chat", "--json").stdout)[
            "deliveries"
        ]
    assert [b["text"].splitlines()[0] for b in received] == ["*told was deployed*"]
    assert deliveries[0]["status"] == "sent" and deliveries[0]["attempts"] == 1


@pytest.mark.parametrize("mode", [[], ["--local"]], ids=["client", "local"])
def test_the_notify_commands_in_both_modes(
    env: dict[str, str], mode: list[str], receiver: tuple[str, list[Any]]
) -> None:
    url, received = receiver
    env = {**env, "MACHETE_NOTIFY_ALLOWED_NETWORKS": "127.0.0.0/8"}
    m = create_machete(Settings.from_env(env))
    try:
        m.store.create_tool(name="n", source_kind="git", source_url="https://x.invalid/x.git")
    finally:
        m.close()
    with running_server({**env, "MACHETE_NOTIFY_INTERVAL": "0.5"}):
        made = run_cli(env, *mode, "notify", "add", "hq", "webhook", url, "--event", "test")
        assert "signing secret: whsec_" in made.stdout
        run_cli(env, *mode, "notify", "add", "n-chat", "discord", url, "--tool", "n")
        listed = json.loads(run_cli(env, *mode, "notify", "list", "--json").stdout)
        assert {c["name"] for c in listed["channels"]} == {"hq", "n-chat"}
        own = json.loads(run_cli(env, *mode, "notify", "list", "--tool", "n", "--json").stdout)
        assert [c["name"] for c in own["channels"]] == ["n-chat"]
        assert "queued test notification" in run_cli(env, *mode, "notify", "test", "hq").stdout
        assert until(lambda: received)
        assert received[0]["type"] == "test"
        off = json.loads(
            run_cli(env, *mode, "notify", "change", "hq", "--disable", "--json").stdout
        )
        assert off["channel"]["enabled"] is False
        bad = run_cli(env, *mode, "notify", "add", "x", "slack", "http://10.0.0.1/", check=False)
        assert bad.returncode == 1 and "error [address_not_allowed]" in bad.stderr
        shown = run_cli(env, *mode, "notify", "deliveries", "hq").stdout
        assert "sent" in shown
        assert "removed hq" in run_cli(env, *mode, "notify", "remove", "hq").stdout
        gone = run_cli(env, *mode, "notify", "test", "hq", check=False)
        assert gone.returncode == 1 and "channel_not_found" in gone.stderr
