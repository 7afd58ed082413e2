"""A real push deploys: a Git repository on loopback whose ``post-receive`` hook sends a
GitHub-style webhook (``X-Hub-Signature-256``) to a real ``machete serve``, which deploys the
new commit behind the proxy with zero failed requests; a replayed old payload and a push of
another branch change nothing; polling picks up a push without any webhook."""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from machete_core.machete import create_machete
from machete_core.settings import Settings
from tests.support.cli import run_cli
from tests.support.git_server import GitHTTPServer, commit_and_push, git, make_repo
from tests.support.http import request
from tests.support.images import http_tool_files
from tests.support.load import hammering
from tests.support.server import call, running_server, wait_op

#: The Git host's side: what GitHub sends on a push, signed with the hook's secret.
POST_RECEIVE = """#!{python}
import hashlib, hmac, json, sys, urllib.request, uuid

URL, SECRET = {url!r}, {secret!r}
for line in sys.stdin:
    before, after, ref = line.split()
    body = json.dumps({{
        "ref": ref, "before": before, "after": after,
        "deleted": after == "0" * 40,
        "repository": {{"full_name": "team/app", "default_branch": "main"}},
    }}).encode()
    sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    req = urllib.request.Request(URL, data=body, method="POST", headers={{
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/test",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sig,
    }})
    with urllib.request.urlopen(req, timeout=30) as resp:
        answer = resp.read().decode()
    sent = {{"status": resp.status, "body": body.decode(), "answer": answer}}
    with open({log!r}, "a") as log:
        log.write(json.dumps(sent) + "\\n")
"""


@pytest.fixture
def server(env: dict[str, str], busybox_image: str) -> Iterator[str]:
    with running_server({**env, "MACHETE_DRAIN_SECONDS": "1"}) as (base, _proc):
        yield base


def installed(server: str, git_server: GitHTTPServer, name: str) -> tuple[Path, Path]:
    repo = f"{name}{uuid.uuid4().hex[:6]}"
    work = make_repo(git_server.root, repo, http_tool_files("version 1"))
    _s, body = call(
        "POST", f"{server}/api/tools", {"url": git_server.url(f"{repo}.git"), "name": name}
    )
    assert wait_op(server, body["operation_id"])["status"] == "succeeded"
    return work, git_server.root / f"{repo}.git"


def until(check: object, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_a_push_deploys_through_the_webhook_with_zero_failed_requests(
    server: str, git_server: GitHTTPServer, tmp_path: Path
) -> None:
    work, bare = installed(server, git_server, "pushed")
    _s, made = call("PUT", f"{server}/api/tools/pushed/hook")
    url, secret = server + made["hook"]["path"], made["secret"]
    log = tmp_path / "deliveries.jsonl"
    hook = bare / "hooks" / "post-receive"
    hook.write_text(
        POST_RECEIVE.format(python=sys.executable, url=url, secret=secret, log=str(log))
    )
    hook.chmod(0o755)

    with hammering(f"{server}/tools/pushed/") as results:
        assert not log.exists()
        commit_and_push(work, {"www/index.html": "version 2\n"})
        sent = json.loads(log.read_text().splitlines()[-1])
        answer = json.loads(sent["answer"])
        assert sent["status"] == 202 and answer["outcome"] == "deployed", sent
        op = wait_op(server, answer["operation_id"], timeout=180)
        assert op["status"] == "succeeded" and op["actor"]["kind"] == "webhook"
        until(lambda: request(f"{server}/tools/pushed/")[1] == b"version 2\n")
    failures = [r for r in results if r[0] != 200]
    assert len(results) > 20 and failures == []

    # Another branch: recorded, ignored.
    git("checkout", "-q", "-b", "feature", cwd=work)
    commit_and_push(work, {"www/index.html": "feature\n"}, branch="feature")
    ignored = json.loads(json.loads(log.read_text().splitlines()[-1])["answer"])
    assert ignored["outcome"] == "ignored"

    # The first payload again, as a new delivery: the deploy resolves main itself, finds it
    # running already, and builds nothing.
    _s, releases = call("GET", f"{server}/api/tools/pushed/releases")
    body = sent["body"].encode()
    replay = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": "sha256="
        + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
    }
    with urllib.request.urlopen(
        urllib.request.Request(url, data=body, method="POST", headers=replay), timeout=30
    ) as resp:
        again = json.loads(resp.read())
        assert resp.status == 202, again
    assert wait_op(server, again["operation_id"])["status"] == "succeeded"
    _s, after = call("GET", f"{server}/api/tools/pushed/releases")
    assert len(after["releases"]) == len(releases["releases"])
    assert request(f"{server}/tools/pushed/")[1] == b"version 2\n"

    _s, deliveries = call("GET", f"{server}/api/tools/pushed/hook/deliveries")
    outcomes = [d["outcome"] for d in deliveries["deliveries"]]
    assert outcomes == ["deployed", "ignored", "deployed"]


def test_polling_deploys_a_push_without_a_webhook(
    server: str, git_server: GitHTTPServer, env: dict[str, str]
) -> None:
    work, _bare = installed(server, git_server, "polled")
    status, _ = call("PUT", f"{server}/api/tools/polled/hook/poll", {"seconds": 60})
    assert status == 200
    commit_and_push(work, {"www/index.html": "version 2\n"})
    # The first poll comes at the tool's fixed offset in its interval after polling was set;
    # dated an hour back, it is due at the trigger loop's next round.
    m = create_machete(Settings.from_env(env))
    try:
        tool_id = m.store.get_tool("polled").id
        m.store.save_trigger(tool_id, "unused", created_at=time.time() - 3600)
    finally:
        m.close()
    until(lambda: request(f"{server}/tools/polled/")[1] == b"version 2\n", timeout=120)
    _s, ops = call("GET", f"{server}/api/tools/polled/operations")
    newest = ops["operations"][0]
    assert newest["actor"]["name"] == "source poll"


@pytest.mark.parametrize("mode", [[], ["--local"]], ids=["client", "local"])
def test_the_hooks_commands_in_both_modes(
    server: str, env: dict[str, str], mode: list[str]
) -> None:
    """``machete hooks`` through the running server (client mode) and on the state."""
    m = create_machete(Settings.from_env(env))
    try:
        if m.store.find_tool("h") is None:
            m.store.create_tool(
                name="h", source_kind="git", source_url="https://git.example.invalid/x.git"
            )
    finally:
        m.close()
    enabled = run_cli(env, *mode, "hooks", "enable", "h")
    assert "secret:   whsec_" in enabled.stdout and "/api/hooks/" in enabled.stdout
    shown = run_cli(env, *mode, "hooks", "show", "h", "--json")
    data = json.loads(shown.stdout)
    assert data["hook"]["enabled"] is True and data["secret"] is None
    rotated = json.loads(
        run_cli(env, *mode, "hooks", "rotate", "h", "--grace", "0", "--json").stdout
    )
    assert rotated["secret"].startswith("whsec_") and rotated["hook"]["previous_until"] is None
    polled = run_cli(env, *mode, "hooks", "poll", "h", "120")
    assert "every 120 s" in polled.stdout
    assert "polling:  off" in run_cli(env, *mode, "hooks", "poll", "h", "off").stdout
    bad = run_cli(env, *mode, "hooks", "poll", "h", "5", check=False)
    assert bad.returncode != 0 and "60 to 86400" in bad.stderr
    deliveries = json.loads(run_cli(env, *mode, "hooks", "deliveries", "h", "--json").stdout)
    assert deliveries == {"deliveries": []}
    assert "webhook:  off" in run_cli(env, *mode, "hooks", "disable", "h").stdout
