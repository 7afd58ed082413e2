"""What the server offers the CLI: ``machete login``'s CLI tokens (and logout revoking them),
the local credential of ``<home>/server.json`` (this machine only), the API version on every
answer (and a refusal of another), and an operation's progress in order over a WebSocket."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pyotp
import pytest
from aiohttp.test_utils import TestClient

from machete_core.domain.operations import SYSTEM, StepProgress, StepState
from machete_core.follow import OperationProgress
from machete_core.machete import Machete
from machete_core.settings import Settings
from machete_web import create_app
from machete_web.authn import LOCAL_CREDENTIAL
from tests.support.people import PASSWORD, ensure_user, owner_headers
from tests.support.pointing import deployed


@pytest.fixture
def machete(pointing_machete: Machete) -> Machete:
    return pointing_machete


@pytest.fixture
async def client(aiohttp_client: Any, machete: Machete) -> TestClient:
    app = create_app(machete=machete)
    app[LOCAL_CREDENTIAL] = "mchl_the-right-one"
    return await aiohttp_client(app)  # type: ignore[no-any-return]


async def test_login_makes_a_cli_token_and_logout_revokes_it(
    client: TestClient, machete: Machete
) -> None:
    ensure_user(machete, "ann", "operator")
    wrong = await client.post("/api/auth/token", json={"username": "ann", "password": "nope"})
    assert wrong.status == 401
    assert machete.store.audit()[-1].outcome == "denied"  # throttled and audited as a sign-in
    made = await client.post(
        "/api/auth/token", json={"username": "ann", "password": PASSWORD, "label": "laptop"}
    )
    assert made.status == 201
    data = await made.json()
    assert data["token"].startswith("mch_cli_") and data["record"]["name"] == "laptop"
    assert "set-cookie" not in made.headers  # a token, not a session
    headers = {"Authorization": f"Bearer {data['token']}"}
    me = await (await client.get("/api/auth/me", headers=headers)).json()
    assert (me["name"], me["role"], me["token"]["id"]) == ("ann", "operator", data["record"]["id"])
    # It stands for the person: it may list (and make) that person's tokens; a PAT may not.
    assert (await client.get("/api/tokens", headers=headers)).status == 200
    out = await (await client.post("/api/auth/logout", headers=headers)).json()
    assert out["token_revoked"] is True
    assert (await client.get("/api/tools", headers=headers)).status == 401


async def test_a_second_factor_is_asked_for_and_enrolment_comes_first(
    client: TestClient, machete: Machete, settings: Settings
) -> None:
    ensure_user(machete, "tom", "admin")
    tom = machete.auth.principal_for("tom")
    assert tom is not None
    totp = pyotp.parse_uri(machete.auth.start_totp(tom))
    machete.auth.confirm_totp(tom, totp.now())
    machete.auth.clock = lambda: time.time() + 30  # each code is good once: the next one
    asked = await client.post("/api/auth/token", json={"username": "tom", "password": PASSWORD})
    assert (await asked.json())["error"]["code"] == "totp_required"
    ok = await client.post(
        "/api/auth/token",
        json={"username": "tom", "password": PASSWORD, "totp": totp.at(time.time() + 30)},
    )
    assert ok.status == 201


async def test_the_local_credential_is_the_host_s_cli_from_this_machine_only(
    client: TestClient, machete: Machete
) -> None:
    deployed(machete, "app")
    good = {"Authorization": "Bearer mchl_the-right-one"}
    me = await (await client.get("/api/auth/me", headers=good)).json()
    assert (me["kind"], me["name"]) == ("local", "machete CLI")
    assert (await client.get("/api/tools/app", headers=good)).status == 200
    bad = {"Authorization": "Bearer mchl_the-wrong-one"}
    assert (await client.get("/api/tools", headers=bad)).status == 401
    # Operations it starts are recorded as the host's CLI, as in local mode.
    answer = await client.post("/api/tools/app/stop", headers=good)
    op = (await answer.json())["operation"]
    assert op["actor"] == {"kind": "local", "id": "cli", "name": "machete CLI"}


async def test_without_a_published_credential_none_is_accepted(
    aiohttp_client: Any, machete: Machete
) -> None:
    client = await aiohttp_client(create_app(machete=machete))
    resp = await client.get("/api/tools", headers={"Authorization": "Bearer mchl_"})
    assert resp.status == 401


async def test_the_api_version_is_said_and_checked(client: TestClient, machete: Machete) -> None:
    headers = owner_headers(machete)
    ok = await client.get("/api/tools", headers={**headers, "Machete-API-Version": "1"})
    assert ok.status == 200 and ok.headers["Machete-API-Version"] == "1"
    health = await (await client.get("/api/health")).json()
    assert health["api_version"] == 1
    other = await client.get("/api/tools", headers={**headers, "Machete-API-Version": "2"})
    assert other.status == 400
    assert (await other.json())["error"]["code"] == "api_version_unsupported"
    missing = await client.get("/api/nothing-here")
    assert missing.headers["Machete-API-Version"] == "1"  # errors say it too


def _simulate_steps(machete: Machete, op_id: str, log_path: str) -> None:
    """What a run does, in its order: the step's report, then its marker and its lines."""

    def log(text: str) -> None:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "a") as out:
            out.write(text)

    machete.core.events.publish(
        "step.started", tool="app", operation_id=op_id, actor=SYSTEM,
        step="stop", index=1, total=1, state="started", seconds=None, detail=None,
    )  # fmt: skip
    log("==> stop\nstopping the instance\n")


async def test_progress_comes_in_order_and_ends_with_the_record(
    client: TestClient, machete: Machete
) -> None:
    deployed(machete, "app")
    op = machete.submit("stop", "app")
    progress = OperationProgress(machete.core, op.id)
    _simulate_steps(machete, op.id, op.log_path)
    items, finished = progress.read()
    assert not finished
    assert [type(i) for i in items] == [StepProgress, str]
    report = items[0]
    assert isinstance(report, StepProgress)
    assert (report.step, report.index, report.total, report.state) == (
        "stop",
        1,
        1,
        StepState.STARTED,
    )
    assert items[1] == "stopping the instance"
    # A marker without a report (a log of an older release) stays a line.
    with open(op.log_path, "a") as out:
        out.write("==> legacy\n")
    machete.store.update_operation(op.id, status="succeeded", finished_at=time.time())
    items, finished = progress.read()
    assert items == ["==> legacy"] and not finished
    assert progress.read() == ([], True)

    # The same over the API's WebSocket, from the start, then the operation's record.
    messages = []
    async with client.ws_connect(
        f"/api/operations/{op.id}/progress", headers=owner_headers(machete)
    ) as ws:
        async for message in ws:
            messages.append(message.json())
    assert [m["type"] for m in messages] == ["step", "line", "line", "end"]
    assert messages[0]["step"] == "stop" and messages[1]["text"] == "stopping the instance"
    assert messages[-1]["operation"]["status"] == "succeeded"


async def test_recent_events_without_a_websocket(client: TestClient, machete: Machete) -> None:
    deployed(machete, "t")
    headers = owner_headers(machete)  # (making the owner records access.* events)
    for n in range(3):
        machete.core.events.publish("tool.custom", tool="t", n=n)
    answer = await (await client.get("/api/events?last=2", headers=headers)).json()
    assert [e["data"]["n"] for e in answer["events"]] == [1, 2]
    assert answer["last_id"] == answer["events"][-1]["id"]  # to follow on from
