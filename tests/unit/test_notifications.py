"""Notifications: channels of each kind against receivers on loopback (Standard Webhooks
signatures verified, Slack and Discord payload shapes, mail through an SMTP server), the outbox
written with its event, retries on an injected clock, the address guard, filters, who may
manage which channel, and repeats suppressed. A kill between commit and send is
tests/integration/test_notifications.py."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import attrs
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from machete_core.errors import AddressNotAllowedError, ChannelNotFoundError, ForbiddenError
from machete_core.machete import Machete, create_machete
from machete_core.notify.kinds import BACKOFF
from machete_core.pipeline.abandon import end_abandoned
from machete_core.settings import Settings
from machete_core.views import HealthTarget, ProbeResult
from machete_plugins import BUILTIN_PLUGINS
from machete_web import create_app
from tests.support.people import as_user, ensure_user, token_for
from tests.support.pointing import PointingPlugin, deployed
from tests.support.smtp import smtp_server

LOOPBACK = ("127.0.0.0/8",)


class Receiver:
    """An HTTP endpoint that keeps what it is sent and answers the statuses it is told."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        #: Answer every request with a redirect there.
        self.redirect_to: str | None = None
        self.server: TestServer | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        if self.redirect_to:
            raise web.HTTPFound(self.redirect_to)
        return web.Response(status=self.statuses.pop(0) if self.statuses else 204)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.port}/hook?x=1"

    def bodies(self) -> list[Any]:
        return [json.loads(body) for _headers, body in self.received]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/hook", found.handle)
    found.server = TestServer(app, host="127.0.0.1")
    await found.server.start_server()
    yield found
    await found.server.close()


@pytest.fixture
def machete(settings: Settings) -> Iterator[Machete]:
    m = create_machete(
        attrs.evolve(settings, notify_allowed_networks=LOOPBACK), builtins=BUILTIN_PLUGINS
    )
    m.plugins.register(PointingPlugin(), "pointing")
    yield m
    m.close()


def finish(m: Machete, tool: str, kind: str, status: str, **fields: Any) -> str:
    """An operation of ``tool`` ended as the runner ends one: recorded, then published."""
    op = m.submit(kind, tool)
    m.store.update_operation(op.id, status=status, **fields)
    m.events.publish("operation.finished", tool=tool, operation_id=op.id, status=status, kind=kind)
    return op.id


async def send(m: Machete, now: float | None = None) -> int:
    import asyncio

    # The receiver answers on this test's loop: the sending runs on a thread meanwhile.
    return await asyncio.get_running_loop().run_in_executor(None, m.core.notifier.send_due, now)


async def test_a_standard_webhook_is_signed_and_verifiable(
    machete: Machete, receiver: Receiver
) -> None:
    deployed(machete, "app")
    added = machete.notifications.add("ops", "webhook", receiver.url)
    assert added.secret is not None and added.secret.startswith("whsec_")
    assert added.channel.target == "http://127.0.0.1/…"  # the full URL is never shown
    op_id = finish(machete, "app", "deploy", "succeeded")
    assert await send(machete) == 1
    ((headers, body),) = receiver.received
    verified = Webhook(added.secret).verify(body, headers)
    assert verified["type"] == "deploy.succeeded"
    assert verified["data"]["tool"] == "app" and verified["data"]["data"]["operation_id"] == op_id
    with pytest.raises(WebhookVerificationError):
        Webhook(added.secret).verify(body.replace(b"app", b"apq"), headers)
    # Sent once: a second round has nothing to do.
    assert await send(machete) == 0 and len(receiver.received) == 1


async def test_slack_and_discord_payload_shapes(machete: Machete, receiver: Receiver) -> None:
    deployed(machete, "app")
    machete.notifications.add("chat", "slack", receiver.url)
    machete.notifications.add("game", "discord", receiver.url)
    finish(machete, "app", "deploy", "failed", error_code="build_failed", error_message="RUN false")
    assert await send(machete) == 2
    slack = next(b for b in receiver.bodies() if "text" in b)
    assert set(slack) == {"text"} and "A deploy of app failed" in slack["text"]
    assert "[build_failed] RUN false" in slack["text"]
    discord = next(b for b in receiver.bodies() if "embeds" in b)
    embed = discord["embeds"][0]
    assert embed["title"] == "A deploy of app failed" and embed["timestamp"].endswith("Z")
    assert discord["allowed_mentions"] == {"parse": []}


async def test_mail_goes_through_the_smtp_server(settings: Settings) -> None:
    with smtp_server() as smtp:
        m = create_machete(
            attrs.evolve(settings, smtp_host="127.0.0.1", smtp_port=smtp.server_address[1]),
            builtins=BUILTIN_PLUGINS,
        )
        try:
            m.notifications.add("team-mail", "email", "team@example.com")
            m.notifications.test("team-mail")
            assert m.core.notifier.send_due() == 1
        finally:
            m.close()
        ((sender, recipients, message),) = smtp.mails
    assert recipients == ["team@example.com"] and "machete@localhost" in sender
    assert message["Subject"] == "[MACHETE] A test from MACHETE"
    assert "check the channel 'team-mail'" in message.get_content()


async def test_retries_follow_the_schedule_then_give_up(
    machete: Machete, receiver: Receiver
) -> None:
    deployed(machete, "app")
    machete.notifications.add("flaky", "slack", receiver.url)
    receiver.statuses = [500, 502]
    finish(machete, "app", "deploy", "succeeded")
    t0 = time.time() + 1  # the injected clock, from just after the notification was written
    assert await send(machete, t0) == 0
    assert await send(machete, t0 + BACKOFF[0] - 1) == 0  # not due yet
    assert len(receiver.received) == 1
    assert await send(machete, t0 + BACKOFF[0]) == 0
    assert await send(machete, t0 + BACKOFF[0] + BACKOFF[1]) == 1
    (delivery,) = machete.notifications.deliveries("flaky")
    assert delivery.status == "sent" and delivery.attempts == 3
    assert [t.status_code for t in delivery.tries] == [500, 502, 204]
    assert delivery.tries[0].error == "HTTP 500"

    receiver.statuses = [503] * (len(BACKOFF) + 1)
    machete.notifications.test("flaky")
    now = t0 + 10**6
    for wait in (0, *BACKOFF):
        now += wait
        assert await send(machete, now) == 0
    latest = machete.notifications.deliveries("flaky")[0]
    assert latest.status == "failed" and latest.attempts == len(BACKOFF) + 1
    assert await send(machete, now + 10**6) == 0  # failed for good: not sent again


async def test_the_address_guard_refuses_private_targets_unless_allowed(
    settings: Settings, receiver: Receiver
) -> None:
    strict = create_machete(settings, builtins=BUILTIN_PLUGINS)
    try:
        for url in (receiver.url, "http://10.1.2.3/x", "http://169.254.169.254/latest"):
            with pytest.raises(AddressNotAllowedError) as refused:
                strict.notifications.add("private", "slack", url)
            assert "MACHETE_NOTIFY_ALLOWED_NETWORKS" in refused.value.message
    finally:
        strict.close()
    allowed = create_machete(
        attrs.evolve(settings, notify_allowed_networks=LOOPBACK), builtins=BUILTIN_PLUGINS
    )
    try:
        allowed.notifications.add("listed", "slack", receiver.url.replace("127.0.0.1", "localhost"))
        allowed.notifications.test("listed")
        assert await send(allowed) == 1
    finally:
        allowed.close()
    # Allowed when added, not any more when sent (the setting was taken back): nothing is
    # sent, the attempt says why.
    strict = create_machete(settings, builtins=BUILTIN_PLUGINS)
    try:
        strict.notifications.test("listed")
        assert await send(strict) == 0
        assert len(receiver.received) == 1
        latest = strict.notifications.deliveries("listed")[0]
        assert "not allowed" in (latest.last_error or "")
    finally:
        strict.close()


async def test_filters_by_type_and_tool(machete: Machete, receiver: Receiver) -> None:
    deployed(machete, "app")
    deployed(machete, "other")
    machete.notifications.add("failures", "slack", receiver.url, events=["deploy.failed"])
    machete.notifications.add("app-only", "discord", receiver.url, tools=["app"])
    finish(machete, "other", "deploy", "succeeded")  # neither channel
    finish(machete, "app", "deploy", "succeeded")  # app-only
    finish(machete, "other", "deploy", "failed", error_code="x", error_message="y")  # failures
    assert await send(machete) == 2
    assert [set(b) for b in receiver.bodies()] == [
        {"content", "username", "embeds", "allowed_mentions"},
        {"text"},
    ]


async def test_who_manages_which_channel(machete: Machete, receiver: Receiver) -> None:
    deployed(machete, "app")
    deployed(machete, "other")
    ensure_user(machete, "mia", "viewer")
    machete.access.grant("app", "maintainer", user="mia")
    mia = as_user(machete, "mia")
    own = mia.notifications.add("app-chat", "slack", receiver.url, tool="app")
    assert own.channel.tool == "app" and own.channel.tools == ["app"]
    with pytest.raises(ForbiddenError):
        mia.notifications.add("sneaky", "slack", receiver.url)  # an instance channel
    with pytest.raises(ForbiddenError):
        mia.notifications.add("other-chat", "slack", receiver.url, tool="other")
    machete.notifications.add("admins", "slack", receiver.url)
    with pytest.raises(ChannelNotFoundError):
        mia.notifications.get("admins")  # not hers: as if it did not exist
    assert [c.name for c in mia.notifications.channels("app")] == ["app-chat"]
    assert {c.name for c in machete.notifications.channels()} == {"app-chat", "admins"}
    # Her channel hears of her tool only, whatever the filters say.
    finish(machete, "other", "deploy", "succeeded")
    assert [n for n in machete.store.outbox(machete.store.find_channel("app-chat").id)] == []
    # A removed tool takes its channels with it.
    machete.store.delete_tool(machete.store.get_tool("app").id)
    assert machete.store.find_channel("app-chat") is None


async def test_unhealthy_after_n_failures_recovered_and_repeats_suppressed(
    machete: Machete, receiver: Receiver
) -> None:
    deployed(machete, "app")
    machete.notifications.add("health", "slack", receiver.url)
    tool = machete.store.get_tool("app")
    target = HealthTarget(tool.id, "app", "http://127.0.0.1:1", "/health")
    after = machete.settings.notify_unhealthy_after

    def flap() -> None:
        for _ in range(after + 2):
            machete.record_health([ProbeResult(target, False, "HTTP 500")])
        machete.record_health([ProbeResult(target, True, None)])

    flap()
    kinds = [n.kind for n in machete.store.outbox(machete.store.find_channel("health").id)]
    assert sorted(kinds) == ["tool.recovered", "tool.unhealthy"]
    flap()  # again within MACHETE_NOTIFY_REPEAT_SECONDS: not told twice
    again = [n.kind for n in machete.store.outbox(machete.store.find_channel("health").id)]
    assert sorted(again) == ["tool.recovered", "tool.unhealthy"]
    assert await send(machete) == 2
    unhealthy = next(b for b in receiver.bodies() if "unhealthy" in b["text"])
    assert f"{after} health checks in a row failed: HTTP 500" in unhealthy["text"]


async def test_abandoned_operations_refused_webhooks_and_expiring_tokens_are_told(
    aiohttp_client: Any, machete: Machete, receiver: Receiver
) -> None:
    deployed(machete, "app")
    machete.notifications.add("all", "slack", receiver.url)
    op = machete.submit("restart", "app")
    end_abandoned(machete.core, machete.operation(op.id))
    hook = machete.hooks.enable("app")
    client = await aiohttp_client(create_app(machete=machete))
    for _ in range(3):  # repeats of one tool's refusals are told once
        resp = await client.post(
            f"/api/hooks/{hook.hook.hook_id}",
            data=b"{}",
            headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + "0" * 64},
        )
        assert resp.status == 401
    ensure_user(machete, "ann", "admin")
    machete.access.create_token("short", ("tools:read",), user="ann", expires_days=3)
    machete.access.create_token("long", ("tools:read",), user="ann", expires_days=60)
    assert machete.core.notifier.check_expiring_tokens() == 1
    assert machete.core.notifier.check_expiring_tokens() == 0  # told once
    kinds = sorted(n.kind for n in machete.store.outbox(machete.store.find_channel("all").id))
    assert kinds == ["operation.abandoned", "token.expiring", "webhook.bad_signature"]
    assert await send(machete) == 3


async def test_the_api_and_its_test_action(
    aiohttp_client: Any, machete: Machete, receiver: Receiver
) -> None:
    deployed(machete, "app")
    owner = token_for(machete)
    client: TestClient = await aiohttp_client(
        create_app(machete=machete), headers={"Authorization": f"Bearer {owner}"}
    )
    resp = await client.post(
        "/api/notifications",
        json={"name": "hq", "kind": "webhook", "target": receiver.url, "events": ["test"]},
    )
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    assert created["secret"].startswith("whsec_") and created["channel"]["name"] == "hq"
    assert (await client.get("/api/notifications/hq")).status == 200
    assert "secret" not in await (await client.get("/api/notifications/hq")).text()
    resp = await client.post(
        "/api/notifications", json={"name": "hq", "kind": "slack", "target": receiver.url}
    )
    assert resp.status == 409
    resp = await client.post(
        "/api/notifications", json={"name": "bad", "kind": "pager", "target": receiver.url}
    )
    assert resp.status == 422
    resp = await client.post("/api/notifications/hq/test")
    assert resp.status == 202
    assert await send(machete) == 1
    Webhook(created["secret"]).verify(receiver.received[0][1], receiver.received[0][0])
    deliveries = await (await client.get("/api/notifications/hq/deliveries")).json()
    assert deliveries["deliveries"][0]["status"] == "sent"
    resp = await client.patch("/api/notifications/hq", json={"enabled": False})
    assert (await resp.json())["channel"]["enabled"] is False
    resp = await client.post(
        "/api/tools/app/notifications",
        json={"name": "app-hook", "kind": "slack", "target": receiver.url},
    )
    assert resp.status == 201 and (await resp.json())["channel"]["tool"] == "app"
    listed = await (await client.get("/api/tools/app/notifications")).json()
    assert [c["name"] for c in listed["channels"]] == ["app-hook"]
    assert (await client.delete("/api/notifications/hq")).status == 200
    assert (await client.get("/api/notifications/hq")).status == 404
    metrics = await (await client.get("/metrics")).text()
    assert 'machete_notifications_total{notice="test",outcome="sent"} 1.0' in metrics


async def test_a_failed_deploys_reason_is_redacted(machete: Machete, receiver: Receiver) -> None:
    deployed(machete, "app")
    secret = "s3cret-in-an-error-9"
    machete.notifications.add("chat", "slack", receiver.url)
    token = token_for(machete, "ann", "admin")
    # The change's deploy ends with the secret in its message (as if an engine echoed it).
    op = machete.change_config("app", {"API_KEY": secret}, secret=True)
    assert op is not None
    message = f"the engine said: env API_KEY={secret} with Authorization: Bearer {token}"
    machete.store.update_operation(
        op.id, status="failed", error_code="start_failed", error_message=message
    )
    machete.events.publish(
        "operation.finished", tool="app", operation_id=op.id, status="failed", kind="deploy"
    )
    assert await send(machete) == 1
    (text,) = [b["text"] for b in receiver.bodies()]
    assert "[start_failed] the engine said: env API_KEY=*** with" in text
    assert secret not in text and token not in text


async def test_ssrf_rows_redirects_rebinding_and_odd_spellings(
    settings: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """threats.md's SSRF row for notification targets: odd spellings of private addresses,
    a DNS answer that turns private after the check, a mixed answer, and a redirect to an
    internal host, each refused before any connection to a private address."""
    import socket

    m = create_machete(settings, builtins=BUILTIN_PLUGINS)
    try:
        for url in (
            "http://[::ffff:127.0.0.1]/x",
            "http://2130706433/x",
            "http://0x7f.0.0.1/x",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/x",
        ):
            with pytest.raises(AddressNotAllowedError):
                m.notifications.add("odd", "slack", url)
        public = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 80))
        private = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", 80))
        answers = {"now": [public]}
        monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: answers["now"])
        connects: list[Any] = []
        monkeypatch.setattr(
            socket, "create_connection", lambda address, *a, **k: connects.append(address)
        )
        m.notifications.add("rebound", "slack", "https://chat.example.com/hook")
        answers["now"] = [public, private]  # a mixed answer at send time
        m.notifications.test("rebound")
        assert m.core.notifier.send_due() == 0
        answers["now"] = [private]  # rebinding: private now
        m.notifications.test("rebound")
        assert m.core.notifier.send_due() == 0
        assert connects == []  # refused before any connection
        errors = {d.last_error for d in m.notifications.deliveries("rebound")}
        assert all(e and "not allowed" in e for e in errors)
    finally:
        m.close()


async def test_a_redirect_is_never_followed(machete: Machete, receiver: Receiver) -> None:
    inside = Receiver()
    app = web.Application()
    app.router.add_post("/hook", inside.handle)
    inside.server = TestServer(app, host="127.0.0.1")
    await inside.server.start_server()
    try:
        receiver.redirect_to = inside.url
        machete.notifications.add("moved", "slack", receiver.url)
        machete.notifications.test("moved")
        assert await send(machete) == 0
        assert inside.received == [] and len(receiver.received) == 1
        (delivery,) = machete.notifications.deliveries("moved")
        assert delivery.last_error == "HTTP 302" and delivery.status == "pending"
    finally:
        await inside.server.close()


async def test_old_notifications_are_pruned_pending_ones_kept(
    machete: Machete, receiver: Receiver
) -> None:
    machete.notifications.add("busy", "slack", receiver.url)
    for _ in range(5):
        machete.notifications.test("busy")
    assert await send(machete) == 5
    machete.notifications.test("busy")  # pending: never pruned
    assert machete.store.prune_outbox(kept=2) == 3
    kept = machete.notifications.deliveries("busy")
    assert [d.status for d in kept] == ["pending", "sent", "sent"]
    assert all(d.tries for d in kept if d.status == "sent")
