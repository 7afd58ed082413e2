"""``machete login --device`` (RFC 8628 style): the CLI gets a code, a signed-in person
approves it on the dashboard's form, the CLI's poll gets a CLI token once. Refusals, expiry,
polling too fast, a token trying to approve, and the real CLI command end to end."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from aiohttp.test_utils import TestClient
from click.testing import CliRunner

from machete_core.machete import Machete
from machete_web import create_app
from tests.support.people import PASSWORD, ensure_user, token_for


async def person(aiohttp_client: Any, machete: Machete, name: str) -> TestClient:
    ensure_user(machete, name, "operator")
    client: TestClient = await aiohttp_client(create_app(machete=machete))
    await sign_in(client, name)
    return client


async def sign_in(client: TestClient, name: str) -> None:
    resp = await client.post(
        "/sign-in", data={"username": name, "password": PASSWORD}, headers=origin(client)
    )
    assert resp.status == 200


def origin(client: TestClient) -> dict[str, str]:
    return {"Origin": f"http://{client.server.host}:{client.server.port}"}


async def test_an_approved_code_gives_one_token(
    aiohttp_client: Any, pointing_machete: Machete
) -> None:
    m = pointing_machete
    client = await person(aiohttp_client, m, "dora")
    start = await (
        await client.post("/api/auth/device", json={"label": "build box"}, headers=origin(client))
    ).json()
    assert re.fullmatch(r"[B-Z]{4}-[B-Z]{4}", start["user_code"])
    assert start["verification_uri_complete"].endswith(f"/device?code={start['user_code']}")
    poll = {"device_code": start["device_code"]}
    client.session.cookie_jar.clear()  # the terminal has no session
    pending = await client.post("/api/auth/device/token", json=poll)
    assert (
        pending.status == 400 and (await pending.json())["error"]["code"] == "authorization_pending"
    )
    too_fast = await client.post("/api/auth/device/token", json=poll)
    assert (await too_fast.json())["error"]["code"] == "slow_down"
    # The person, signed in, sees what asks and approves it on the dashboard.
    await sign_in(client, "dora")
    page = await (await client.get(f"/device?code={start['user_code'].lower()}")).text()
    assert "build box" in page
    done = await client.post(
        "/device",
        data={"user_code": start["user_code"], "decision": "approve"},
        headers=origin(client),
    )
    assert done.status == 200 and "Approved" in await done.text()
    client.session.cookie_jar.clear()
    m.auth.clock = lambda: time.time() + 10  # after the interval
    made = await client.post("/api/auth/device/token", json=poll)
    assert made.status == 201, await made.text()
    token = (await made.json())["token"]
    assert token.startswith("mch_cli_")
    me = await (
        await client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    ).json()
    assert (me["name"], me["role"]) == ("dora", "operator")
    again = await client.post("/api/auth/device/token", json=poll)
    assert (await again.json())["error"]["code"] == "expired_token"  # once only
    actions = [r.action for r in m.store.audit()]
    assert "auth.device_approve" in actions and "auth.device_token" in actions


async def test_refused_expired_and_token_approvals(
    aiohttp_client: Any, pointing_machete: Machete
) -> None:
    m = pointing_machete
    client = await person(aiohttp_client, m, "rex")
    refused = await (await client.post("/api/auth/device", json={}, headers=origin(client))).json()
    await client.post(
        "/device",
        data={"user_code": refused["user_code"], "decision": "deny"},
        headers=origin(client),
    )
    answer = await client.post(
        "/api/auth/device/token",
        json={"device_code": refused["device_code"]},
        headers=origin(client),
    )
    assert answer.status == 403 and (await answer.json())["error"]["code"] == "access_denied"
    # A token (a program) cannot approve: only a person's session.
    late = await (await client.post("/api/auth/device", json={}, headers=origin(client))).json()
    client.session.cookie_jar.clear()
    bearer = {"Authorization": f"Bearer {token_for(m, 'rex', 'operator')}"}
    resp = await client.post("/device", data={"user_code": late["user_code"]}, headers=bearer)
    assert resp.status == 403
    # Ten minutes later the code is gone.
    m.auth.clock = lambda: time.time() + 601
    expired = await client.post("/api/auth/device/token", json={"device_code": late["device_code"]})
    assert (await expired.json())["error"]["code"] == "expired_token"
    await sign_in(client, "rex")
    page = await client.get(f"/device?code={late['user_code']}")
    assert page.status == 422 and "no login is waiting" in await page.text()


async def test_the_cli_prints_the_code_and_waits_for_approval(
    aiohttp_client: Any, pointing_machete: Machete, tmp_path: Any
) -> None:
    from machete_cli.main import cli

    m = pointing_machete
    client = await person(aiohttp_client, m, "cleo")
    url = f"http://{client.server.host}:{client.server.port}"
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "MACHETE_URL": "", "MACHETE_TOKEN": ""}
    cli = asyncio.create_task(
        asyncio.to_thread(CliRunner().invoke, cli, ["login", url, "--device"], env=env)
    )
    code = None
    for _ in range(200):
        await asyncio.sleep(0.05)
        with m.store.engine.connect() as conn:
            from sqlalchemy import text

            row = conn.execute(
                text("SELECT user_code FROM device_logins WHERE state='pending'")
            ).first()
        if row is not None:
            code = row[0]
            break
    assert code is not None
    resp = await client.post(
        "/device", data={"user_code": code, "decision": "approve"}, headers=origin(client)
    )
    assert resp.status == 200
    result = await asyncio.wait_for(cli, 30)
    assert result.exit_code == 0, result.output
    assert code in result.output and f"{url}/device?code={code}" in result.output
    assert "signed in to" in result.output and "as cleo" in result.output
    hosts = (tmp_path / "xdg" / "machete" / "hosts.toml").read_text()
    assert "mch_cli_" in hosts
