"""The audit log: a row for every mutating route (walked from the route table), for sign-ins
and refusals; never a secret in it or in the logs; filters, JSON Lines, retention."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text

from machete_core.access import bootstrap
from machete_core.machete import Machete, create_machete
from machete_core.settings import Settings
from machete_plugins import BUILTIN_PLUGINS
from machete_web import create_app, route_policy
from tests.support.pointing import PointingPlugin, deployed

SECRET_VALUE = "s3cr3t-config-value-7f1e"
FIRST_PASSWORD = "first owner password 1"
NEW_PASSWORD = "a brand new password 2"
BOB_PASSWORD = "bob's own password 33"
RESET_PASSWORD = "reset by the owner 444"


@pytest.fixture
def machete(settings: Settings) -> Iterator[Machete]:
    m = create_machete(settings, builtins=BUILTIN_PLUGINS)
    m.plugins.register(PointingPlugin(), "pointing")
    yield m
    m.close()


async def test_every_mutating_route_writes_an_audit_row_with_nothing_secret(
    aiohttp_client: Any, machete: Machete, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client: TestClient = await aiohttp_client(create_app(machete=machete))
    origin = {"Origin": f"http://{client.server.host}:{client.server.port}"}
    for name in ("app", "other"):
        deployed(machete, name)
    op = machete.submit("start", "other")
    machete.store.update_operation(op.id, status="succeeded", finished_at=time.time())
    machete.auth.write_setup_token()
    setup_token = bootstrap.read_setup_token(machete.settings.home)
    seen: dict[str, str] = {}
    covered: set[tuple[str, str]] = set()
    made_token: list[str] = []
    totp: list[pyotp.TOTP] = []

    async def call(method: str, path: str, url: str, body: Any = None) -> Any:
        before = machete.store.audit()[-1].id if machete.store.audit() else 0
        async with client.request(method, url, json=body, headers=origin) as resp:
            data = await resp.json()
            assert resp.status < 500, (method, url, data)
        rows = machete.store.audit(after_id=before)
        assert rows, f"no audit row for {method} {url} ({resp.status}: {data})"
        seen[f"{method} {path}"] = ",".join(r.action for r in rows)
        covered.add((method, path))
        return data

    T = "/api/tools/{tool}"
    await call(
        "POST",
        "/api/auth/setup",
        "/api/auth/setup",
        {"token": setup_token, "username": "root", "password": FIRST_PASSWORD},
    )
    await call(
        "POST",
        "/api/auth/password",
        "/api/auth/password",
        {"current": FIRST_PASSWORD, "new": NEW_PASSWORD},
    )
    uri = (await call("POST", "/api/auth/totp", "/api/auth/totp"))["otpauth_uri"]
    totp.append(pyotp.parse_uri(uri))
    await call("POST", "/api/auth/totp/confirm", "/api/auth/totp/confirm", {"code": totp[0].now()})
    await call("POST", "/api/auth/logout", "/api/auth/logout")
    machete.auth.clock = lambda: time.time() + 30  # the next code (each is good once)
    await call(
        "POST",
        "/api/auth/login",
        "/api/auth/login",
        {"username": "root", "password": NEW_PASSWORD, "totp": totp[0].at(time.time() + 30)},
    )
    machete.auth.clock = lambda: time.time() + 60
    cli = await call(
        "POST",
        "/api/auth/token",
        "/api/auth/token",
        {"username": "root", "password": NEW_PASSWORD, "totp": totp[0].at(time.time() + 60)},
    )
    made_token.append(cli["token"])
    await call("POST", "/api/auth/device", "/api/auth/device", {"label": "terminal"})
    await call("POST", "/api/auth/device/token", "/api/auth/device/token", {"device_code": "x"})
    await call(
        "POST",
        "/api/users",
        "/api/users",
        {"name": "bob", "role": "viewer", "password": BOB_PASSWORD},
    )
    await call("PATCH", "/api/users/{user}", "/api/users/bob", {"role": "operator"})
    await call(
        "POST",
        "/api/users/{user}/password",
        "/api/users/bob/password",
        {"password": RESET_PASSWORD},
    )
    await call("POST", "/api/teams", "/api/teams", {"name": "web"})
    await call("PUT", "/api/teams/{team}/members/{user}", "/api/teams/web/members/bob")
    await call("DELETE", "/api/teams/{team}/members/{user}", "/api/teams/web/members/bob")
    await call("DELETE", "/api/teams/{team}", "/api/teams/web")
    await call("PUT", T + "/grants", "/api/tools/app/grants", {"user": "bob", "role": "viewer"})
    await call("DELETE", T + "/grants/{kind}/{name}", "/api/tools/app/grants/user/bob")
    made = await call(
        "POST", "/api/tokens", "/api/tokens", {"name": "ci", "scopes": ["tools:read"]}
    )
    made_token.append(made["token"])
    await call("DELETE", "/api/tokens/{token}", f"/api/tokens/{made['record']['id']}")
    await call("PATCH", T, "/api/tools/app", {"enabled": True})
    await call("PUT", T + "/access", "/api/tools/app/access", {"access": "granted"})
    await call(
        "PUT",
        T + "/config",
        "/api/tools/app/config",
        {"values": {"API_KEY": SECRET_VALUE}, "secret": True},
    )
    await call("DELETE", T + "/config/{key}", "/api/tools/app/config/API_KEY")
    await call("POST", "/api/operations/{op}/cancel", f"/api/operations/{op.id}/cancel")
    await call("POST", T + "/{action}", "/api/tools/other/restart")
    for path in ("/api/tools", "/api/tools/", "/api/tools/install"):
        body = {"url": "https://git.example.invalid/t.git", "name": f"n{len(covered)}"}
        if path.endswith("install"):
            body = {"git_url": body["url"], "name": body["name"]}
        await call("POST", path, path, body)
    hook = await call("PUT", T + "/hook", "/api/tools/app/hook")
    made_token.append(hook["secret"])
    rotated = await call("POST", T + "/hook/rotate", "/api/tools/app/hook/rotate", {"grace": 0})
    made_token.append(rotated["secret"])
    await call("PUT", T + "/hook/poll", "/api/tools/app/hook/poll", {"seconds": 300})
    # A forged delivery: refused, and the refusal audited (nothing else of it is trusted).
    forged = await call(
        "POST", "/api/hooks/{hook}", rotated["hook"]["path"], {"ref": "refs/heads/main"}
    )
    assert forged["error"]["code"] == "bad_signature"
    await call("DELETE", T + "/hook", "/api/tools/app/hook")
    mail = {"kind": "email", "target": "ops@example.com"}
    await call("POST", "/api/notifications", "/api/notifications", {"name": "hq", **mail})
    await call(
        "POST", T + "/notifications", "/api/tools/app/notifications", {"name": "app-mail", **mail}
    )
    channel = "/api/notifications/{channel}"
    await call("PATCH", channel, "/api/notifications/hq", {"enabled": False})
    await call("POST", channel + "/test", "/api/notifications/app-mail/test")
    await call("DELETE", channel, "/api/notifications/hq")
    await call("POST", T + "/domains", "/api/tools/app/domains", {"name": "app.example.com"})
    await call("DELETE", T + "/domains/{name}", "/api/tools/app/domains/app.example.com")
    await call("DELETE", T, "/api/tools/app")

    mutating = {
        key
        for key, policy in route_policy.ROUTES.items()
        if key[0] in ("POST", "PUT", "PATCH", "DELETE") and key not in route_policy.PAGES
    }  # the dashboard's forms: test_dashboard.py walks them the same way
    assert mutating - covered == set(), "mutating routes the walk did not reach"

    # Nothing secret anywhere: the audit table, the other tables' text, the logs.
    with machete.store.engine.connect() as conn:
        audit_dump = "\n".join(str(r) for r in conn.execute(text("SELECT * FROM audit_log")))
        sessions = "\n".join(str(r) for r in conn.execute(text("SELECT * FROM sessions")))
    secrets = [
        SECRET_VALUE,
        FIRST_PASSWORD,
        NEW_PASSWORD,
        BOB_PASSWORD,
        RESET_PASSWORD,
        *made_token,
        setup_token or "?",
        totp[0].secret,
    ]
    for secret in secrets:
        assert secret not in audit_dump, secret
        assert secret not in caplog.text, secret
        assert secret not in sessions
    assert "API_KEY" in audit_dump  # names are there: what changed, not to what
    actors = {r.actor_name for r in machete.store.audit()}
    assert "root" in actors
    assert any(r.address == "127.0.0.1" and r.request_id for r in machete.store.audit())


def test_failed_sign_ins_and_denials_are_audited_and_readable_by_admins_only(
    machete: Machete,
) -> None:
    from machete_core.errors import ForbiddenError, MacheteError

    machete.access.add_user("ann", "viewer", password=FIRST_PASSWORD)
    with pytest.raises(MacheteError):
        machete.auth.login("ann", "wrong password here", address="192.0.2.1")
    deployed(machete, "app")
    ann = machete.acting_as(machete.auth.principal_for("ann"))  # type: ignore[arg-type]
    with pytest.raises(ForbiddenError):
        ann.submit("restart", "app")
    with pytest.raises(ForbiddenError):
        ann.access.audit()
    rows = machete.access.audit()
    assert [(r.action, r.outcome) for r in rows[-2:]] == [
        ("auth.login", "denied"),
        ("tools.operate", "denied"),
    ]
    assert rows[-2].address == "192.0.2.1" and rows[-1].tool == "app"
    assert [r.action for r in machete.access.audit(tool="app")] == ["tools.operate"]
    assert machete.access.audit(actor="ann")[-1].action == "tools.operate"


def test_audit_cli_json_lines_and_retention(machete: Machete, env: dict[str, str]) -> None:
    from tests.support.cli import run_cli

    machete.access.add_user("ann", "viewer", password=FIRST_PASSWORD)
    out = run_cli(env, "audit", "--jsonl")
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert lines and lines[0]["action"] == "users.add" and lines[0]["target"] == "ann"
    assert json.loads(run_cli(env, "audit", "--json", "--actor", "python").stdout)["audit"]
    old = time.time() - 100 * 86400
    machete.core.access.auditor.record(machete.principal, "ancient", at=old)
    machete.core.access.prune()
    assert "ancient" not in {r.action for r in machete.store.audit()}
    assert "users.add" in {r.action for r in machete.store.audit()}


def test_a_refused_install_with_credentials_in_its_url_is_audited_without_them(
    machete: Machete,
) -> None:
    from machete_core.errors import MacheteError

    with pytest.raises(MacheteError):
        machete.submit_install("https://alice:hunter2-secret@git.example.com/t.git")
    row = machete.store.audit()[-1]
    assert row.action == "tools.install" and row.outcome == "failed"
    assert "hunter2-secret" not in str(row) and row.target == "https://***@git.example.com/t.git"
