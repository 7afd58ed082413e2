"""Push webhooks without Docker: each provider's real header shapes, the order of the checks
(size, signature, parsing), what deploys and what is only recorded, duplicates, replays,
rotation and bursts. The end-to-end push through a real Git server is in
tests/integration/test_push_deploys.py."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient

from machete_core.errors import BadSignatureError, HookNotFoundError
from machete_core.machete import Machete
from machete_core.triggers import providers
from machete_core.triggers.polling import Triggers, due_at
from machete_core.triggers.webhooks import HookSecret, tracks
from machete_web import create_app
from tests.support.people import owner_headers
from tests.support.pointing import deployed

GOOD = "refs/heads/main"
SHA = "a" * 40


@pytest.fixture
def machete(pointing_machete: Machete) -> Machete:
    deployed(pointing_machete, "app")
    pointing_machete.store.update_tool(pointing_machete.get("app").id, source_ref="main")
    return pointing_machete


def enabled(m: Machete, tool: str = "app") -> tuple[str, str]:
    made = m.hooks.enable(tool)
    assert isinstance(made, HookSecret)
    return made.hook.hook_id, made.secret


def push_body(ref: str = GOOD, after: str = SHA, **extra: Any) -> bytes:
    return json.dumps(
        {"ref": ref, "before": "b" * 40, "after": after, "repository": {"default_branch": "main"}}
        | extra
    ).encode()


def headers_for(provider: str, body: bytes, secret: str, event: str = "push") -> dict[str, str]:
    """The headers each host sends, as its documentation shows them."""
    delivery = str(uuid.uuid4())
    p = next(x for x in providers.PROVIDERS if x.name == provider)
    sig = providers.sign(p, body, secret)
    if provider == "github":
        return {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": sig,
            "User-Agent": "GitHub-Hookshot/abc123",
            "Content-Type": "application/json",
        }
    # Gitea sends GitHub's and Gogs's headers beside its own; Forgejo adds its own to those.
    github_too = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": "sha256=" + sig,
        "X-Gogs-Event": event,
        "X-Gogs-Delivery": delivery,
    }
    if provider == "gitea":
        return {
            "X-Gitea-Event": event,
            "X-Gitea-Delivery": delivery,
            "X-Gitea-Signature": sig,
            **github_too,
            "Content-Type": "application/json",
        }
    if provider == "forgejo":
        return {
            "X-Forgejo-Event": event,
            "X-Forgejo-Delivery": delivery,
            "X-Forgejo-Signature": sig,
            "X-Gitea-Event": event,
            "X-Gitea-Delivery": delivery,
            "X-Gitea-Signature": sig,
            **github_too,
            "Content-Type": "application/json",
        }
    if provider == "gitlab":
        name = {"push": "Push Hook", "tag": "Tag Push Hook"}.get(event, event)
        return {
            "X-Gitlab-Event": name,
            "X-Gitlab-Token": sig,
            "X-Gitlab-Event-UUID": delivery,
            "X-Gitlab-Instance": "https://gitlab.example.com",
            "Content-Type": "application/json",
        }
    return {
        "X-Machete-Event": event,
        "X-Machete-Delivery": delivery,
        "X-Machete-Signature": sig,
        "Content-Type": "application/json",
    }


PROVIDERS = ("github", "gitea", "forgejo", "gitlab", "generic")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_good_delivery_deploys_and_a_bad_one_is_refused_and_audited(
    machete: Machete, provider: str
) -> None:
    hook_id, secret = enabled(machete)
    body = push_body()
    received, op = machete.hooks.receive(hook_id, headers_for(provider, body, secret), body)
    assert received.outcome == "deployed" and received.status == 202
    assert machete.hooks.deliveries("app")[0].provider == provider
    assert op is not None and op.kind == "deploy" and received.operation_id == op.id
    assert op.actor.kind == "webhook" and provider in op.actor.name
    machete.store.update_operation(op.id, status="failed", finished_at=time.time())

    for bad in (headers_for(provider, body, "whsec_wrong"), {"X-GitHub-Event": "push"}, {}):
        with pytest.raises(BadSignatureError):
            machete.hooks.receive(hook_id, bad, body)
    assert [d.outcome for d in machete.hooks.deliveries("app")][:3] == ["bad_signature"] * 3
    denied = [r for r in machete.store.audit() if r.action == "tools.hooks.deliver"]
    assert len(denied) == 3 and all(r.outcome == "denied" for r in denied)
    assert len(machete.operations("app")) == 1  # nothing but the good one


def test_a_tampered_body_fails_the_signature(machete: Machete) -> None:
    hook_id, secret = enabled(machete)
    body = push_body()
    headers = headers_for("github", body, secret)
    with pytest.raises(BadSignatureError):
        machete.hooks.receive(hook_id, headers, push_body(after="c" * 40))


def test_unknown_or_disabled_hooks_are_not_found(machete: Machete) -> None:
    hook_id, secret = enabled(machete)
    body = push_body()
    with pytest.raises(HookNotFoundError):
        machete.hooks.receive("nope", headers_for("github", body, secret), body)
    machete.hooks.disable("app")
    with pytest.raises(HookNotFoundError):
        machete.hooks.receive(hook_id, headers_for("github", body, secret), body)
    again = machete.hooks.enable("app")  # the same id and secret work again
    assert not isinstance(again, HookSecret) and again.hook_id == hook_id
    assert machete.hooks.receive(hook_id, headers_for("github", body, secret), body)[0].status


@pytest.mark.parametrize(
    ("provider", "event", "body", "outcome"),
    [
        ("github", "ping", b'{"zen": "Keep it logically awesome."}', "ping"),
        ("generic", "ping", b"{}", "ping"),
        ("github", "issues", b'{"action": "opened"}', "ignored"),
        ("github", "push", push_body(ref="refs/heads/feature"), "ignored"),
        ("github", "push", push_body(ref="refs/tags/v1.0"), "ignored"),
        ("github", "push", push_body(after="0" * 40, deleted=True), "ignored"),
        ("gitlab", "push", push_body(after="0" * 40), "ignored"),
        ("gitea", "delete", b'{"ref": "main", "ref_type": "branch"}', "ignored"),
        ("gitlab", "tag", push_body(ref="refs/tags/v2"), "ignored"),
    ],
)
def test_what_does_not_deploy_is_recorded(
    machete: Machete, provider: str, event: str, body: bytes, outcome: str
) -> None:
    hook_id, secret = enabled(machete)
    received, op = machete.hooks.receive(hook_id, headers_for(provider, body, secret, event), body)
    assert (received.outcome, received.status, op) == (outcome, 200, None)
    assert machete.operations("app") == []
    [delivery] = machete.hooks.deliveries("app")
    assert delivery.outcome == outcome and delivery.detail


def test_a_disabled_tool_is_not_deployed_by_a_push(machete: Machete) -> None:
    hook_id, secret = enabled(machete)
    machete.set_flags("app", enabled=False)
    body = push_body()
    received, op = machete.hooks.receive(hook_id, headers_for("github", body, secret), body)
    assert (received.outcome, op) == ("ignored", None) and "disabled" in received.message


def test_a_tool_that_tracks_a_tag_deploys_on_that_tag(machete: Machete) -> None:
    assert tracks("v2", "refs/tags/v2", None)
    assert not tracks("v2", "refs/heads/v3", None)
    assert tracks(None, "refs/heads/trunk", "trunk")
    assert not tracks(None, "refs/heads/trunk", None)
    machete.store.update_tool(machete.get("app").id, source_ref="v2")
    hook_id, secret = enabled(machete)
    body = push_body(ref="refs/tags/v2")
    received, op = machete.hooks.receive(hook_id, headers_for("gitlab", body, secret, "tag"), body)
    assert received.outcome == "deployed" and op is not None


def test_a_duplicate_delivery_makes_no_second_operation(machete: Machete) -> None:
    hook_id, secret = enabled(machete)
    body = push_body()
    headers = headers_for("github", body, secret)
    _first, op = machete.hooks.receive(hook_id, headers, body)
    assert op is not None
    machete.store.update_operation(op.id, status="succeeded", finished_at=time.time())
    again, none = machete.hooks.receive(hook_id, headers, body)
    assert (again.outcome, again.status, none) == ("duplicate", 200, None)
    assert again.operation_id == op.id
    assert len(machete.operations("app")) == 1


def test_github_s_form_encoded_payload(machete: Machete) -> None:
    hook_id, secret = enabled(machete)
    body = urlencode({"payload": push_body().decode()}).encode()
    headers = headers_for("github", body, secret)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    received, op = machete.hooks.receive(hook_id, headers, body)
    assert received.outcome == "deployed" and op is not None


def test_a_burst_of_pushes_gives_one_deploy_running_and_one_queued(machete: Machete) -> None:
    hook_id, secret = enabled(machete)
    outcomes = []
    for n in range(5):
        body = push_body(after=f"{n + 1}" * 40)
        outcomes.append(machete.hooks.receive(hook_id, headers_for("gitea", body, secret), body))
    assert [r.outcome for r, _op in outcomes] == [
        "deployed",
        "queued",
        "coalesced",
        "coalesced",
        "coalesced",
    ]
    running = outcomes[0][1]
    assert running is not None and all(r.operation_id == running.id for r, _ in outcomes)
    triggers = Triggers(machete.core)
    assert triggers.run_queued() == []  # still busy: stays queued
    machete.store.update_operation(running.id, status="succeeded", finished_at=time.time())
    [queued] = triggers.run_queued()
    assert queued.kind == "deploy" and queued.actor.kind == "webhook"
    assert triggers.run_queued() == []  # once
    assert len(machete.operations("app")) == 2


def test_rotation_keeps_the_old_secret_for_its_grace_period(machete: Machete) -> None:
    hook_id, old = enabled(machete)
    new = machete.hooks.rotate("app", grace=3600).secret
    assert new != old and new.startswith("whsec_")
    body = push_body(ref="refs/heads/other")
    for secret in (old, new):
        assert machete.hooks.receive(hook_id, headers_for("github", body, secret), body)[0]
    machete.hooks.rotate("app", grace=0)
    with pytest.raises(BadSignatureError):
        machete.hooks.receive(hook_id, headers_for("github", body, new), body)
    view = machete.hooks.show("app")
    assert view is not None and view.previous_until is None


def test_the_secret_is_sealed_at_rest(machete: Machete) -> None:
    _hook_id, secret = enabled(machete)
    trigger = machete.store.trigger(machete.get("app").id)
    assert trigger is not None and secret not in (trigger.secret_sealed or "")
    assert machete.secrets.open(trigger.secret_sealed or "")["secret"] == secret


def test_polls_are_spread_and_bounded(machete: Machete) -> None:
    for n in range(40):
        deployed(machete, f"t{n}")
        machete.hooks.set_poll(f"t{n}", 600)
    triggers = machete.store.polled_triggers()
    firsts = sorted(due_at(t) - t.created_at for t in triggers)
    assert firsts[0] < 600 and firsts[-1] < 600
    assert len({int(f // 60) for f in firsts}) > 5  # spread over the interval
    polled: list[int] = []
    bounded = Triggers(machete.core, per_round=3)
    bounded.poll = lambda trigger: polled.append(trigger.tool_id)  # type: ignore[method-assign,assignment,return-value]
    bounded.poll_due(time.time() + 10_000)
    assert len(polled) == 3
    with pytest.raises(Exception, match="60 to 86400"):
        machete.hooks.set_poll("app", 5)


# -- over HTTP ---------------------------------------------------------------------------


@pytest.fixture
async def client(aiohttp_client: Any, machete: Machete) -> TestClient:
    return await aiohttp_client(create_app(machete=machete), headers=owner_headers(machete))


async def test_over_http_a_delivery_is_answered_202_with_its_operation(
    client: TestClient, machete: Machete
) -> None:
    made = await (await client.put("/api/tools/app/hook")).json()
    path, secret = made["hook"]["path"], made["secret"]
    assert secret.startswith("whsec_")
    assert made["url"].startswith("http://127.0.0.1:") and made["url"].endswith(path)
    again = await (await client.put("/api/tools/app/hook")).json()
    assert again["secret"] is None  # shown once
    body = push_body()
    resp = await client.post(path, data=body, headers=headers_for("github", body, secret))
    answer = await resp.json()
    assert resp.status == 202 and answer["outcome"] == "deployed" and answer["operation_id"]
    forged = await client.post(path, data=body, headers=headers_for("github", body, "x"))
    assert forged.status == 401 and (await forged.json())["error"]["code"] == "bad_signature"
    deliveries = await (await client.get("/api/tools/app/hook/deliveries")).json()
    assert [d["outcome"] for d in deliveries["deliveries"]] == ["bad_signature", "deployed"]


async def test_an_oversized_delivery_is_refused_before_any_hmac(
    client: TestClient, machete: Machete, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook_id, _secret = enabled(machete)
    checked: list[bytes] = []
    monkeypatch.setattr(providers, "verify", lambda *a: checked.append(a[2]) or False)
    big = b"{" + b" " * (1 << 20) + b"}"
    resp = await client.post(f"/api/hooks/{hook_id}", data=big, headers={"X-GitHub-Event": "push"})
    assert resp.status == 413 and checked == []
    assert machete.hooks.deliveries("app") == []


async def test_the_webhook_secret_is_never_an_api_token(
    client: TestClient, machete: Machete
) -> None:
    _hook_id, secret = enabled(machete)
    resp = await client.get("/api/tools", headers={"Authorization": f"Bearer {secret}"})
    assert resp.status == 401


async def test_a_ci_token_deploys_its_one_tool_and_nothing_else(
    aiohttp_client: Any, machete: Machete
) -> None:
    """docs/hooks.md's CI set-up: a service account and a one-tool, operate-only token."""
    deployed(machete, "other")
    machete.access.add_user("ci-app", "operator", service=True)
    text, _record = machete.access.create_token(
        "app CI", ("tools:operate",), tools=("app",), user="ci-app"
    )
    client = await aiohttp_client(
        create_app(machete=machete), headers={"Authorization": f"Bearer {text}"}
    )
    deploy = await client.post("/api/tools/app/deploy")
    assert deploy.status == 202 and (await deploy.json())["operation"]["kind"] == "deploy"
    assert (await client.post("/api/tools/other/deploy")).status == 404
    config = await client.put("/api/tools/app/config", json={"values": {"A": "1"}})
    assert config.status == 403
    assert (await client.put("/api/tools/app/hook")).status == 403


def test_a_poll_deploys_a_new_revision_once(machete: Machete, tmp_path: Any) -> None:
    """Against a real Git server: nothing while the live commit is the branch's head; one
    deploy when it moves; none for the same revision again (even if that deploy failed)."""
    from tests.support.git_server import GitHTTPServer, commit_and_push, git, make_repo

    srv = GitHTTPServer(tmp_path / "repos").start()
    try:
        work = make_repo(srv.root, "polled", {"Dockerfile": "FROM scratch\n"})
        head = git("rev-parse", "HEAD", cwd=work)
        app = machete.get("app")
        machete.store.update_tool(app.id, source_url=srv.url("polled.git"))
        release = machete.store.get_release(machete.store.get_tool("app").current_release_id or 0)
        machete.store.update_release(release.id, commit=head)
        machete.hooks.set_poll("app", 60)
        triggers = Triggers(machete.core)

        def poll() -> Any:
            trigger = machete.store.trigger(app.id)
            assert trigger is not None
            return triggers.poll(trigger)

        assert poll() is None  # the live commit is the head
        new = commit_and_push(work, {"README": "more\n"})
        op = poll()
        assert op is not None and op.kind == "deploy" and op.actor.name == "source poll"
        machete.store.update_operation(op.id, status="failed", finished_at=time.time())
        assert poll() is None  # that revision was tried: not again
        trigger = machete.store.trigger(app.id)
        assert trigger is not None and trigger.polled_revision == new
    finally:
        srv.stop()
