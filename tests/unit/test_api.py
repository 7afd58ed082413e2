"""The HTTP API's contract without Docker: validation, errors, flags, plugins."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from machete_core.machete import Machete, create_machete
from machete_core.settings import Settings


@pytest.fixture
def machete(bundled_machete: Machete) -> Machete:
    return bundled_machete


@pytest.fixture
def client(api_client: TestClient) -> TestClient:
    return api_client


async def error_of(resp: Any, status: int) -> str:
    assert resp.status == status, await resp.text()
    body = await resp.json()
    assert body["success"] is False and body["error_code"] == body["error"]["code"]
    return str(body["error"]["code"])


async def test_health(client: TestClient, machete: Machete) -> None:
    for path in ("/api/health", "/api/health/", "/health"):
        resp = await client.get(path)
        assert resp.status == 200 and (await resp.json())["status"] == "ok"
    db = await client.get("/api/health/db")
    assert (await db.json())["database"] == machete.store.engine.dialect.name


async def test_empty_list(client: TestClient) -> None:
    for path in ("/api/tools", "/api/tools/"):
        assert (await (await client.get(path)).json()) == {"tools": []}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("{not json", 400, "invalid_json"),
        ("[1, 2]", 422, "invalid_input"),
        ("{}", 422, "invalid_input"),
        ('{"url": 5}', 422, "invalid_input"),
        ('{"url": "git@github.com:a/b.git"}', 422, "source_not_allowed"),
        ('{"url": "file:///etc"}', 422, "source_not_allowed"),
        ('{"url": "https://u:p@example.com/x.git"}', 422, "source_not_allowed"),
        ('{"url": "https://example.com/x.git", "name": "!!!"}', 422, "invalid_name"),
        ('{"url": "https://example.com/x.git", "ref": ["x"]}', 422, "invalid_input"),
    ],
)
async def test_install_validation(client: TestClient, body: str, status: int, code: str) -> None:
    resp = await client.post("/api/tools", data=body, headers={"Content-Type": "application/json"})
    assert await error_of(resp, status) == code


async def test_original_install_call_validates_too(client: TestClient) -> None:
    resp = await client.post("/api/tools/install", json={"git_url": "ext::sh"})
    assert await error_of(resp, 422) == "source_not_allowed"


async def test_unknown_tools_and_operations_are_404(client: TestClient) -> None:
    for method, path in [
        ("GET", "/api/tools/nope"),
        ("GET", "/api/tools/42/status"),
        ("POST", "/api/tools/nope/start"),
        ("DELETE", "/api/tools/nope"),
        ("PATCH", "/api/tools/nope"),
        ("GET", "/api/operations/nope"),
        ("GET", "/api/operations/nope/log"),
    ]:
        resp = await client.request(method, path, json={})
        assert resp.status == 404, (method, path)
    assert await error_of(await client.get("/api/no/such/route"), 404) == "not_found"


async def test_patch_flags_by_name_and_id(client: TestClient, machete: Machete) -> None:
    tool = machete.store.create_tool(name="t", source_kind="git", source_url="https://x/t.git")
    resp = await client.patch("/api/tools/t", json={"enabled": False})
    assert (await resp.json())["tool"]["enabled"] is False
    resp = await client.patch(f"/api/tools/{tool.id}", json={"auto_start": False})
    data = (await resp.json())["tool"]
    assert data["auto_start"] is False and data["name"] == "t"
    assert (
        await error_of(await client.patch("/api/tools/t", json={"enabled": "no"}), 422)
        == "invalid_input"
    )
    assert (
        await error_of(await client.patch("/api/tools/t", json={"name": "x"}), 422)
        == "invalid_input"
    )


async def test_lifecycle_of_a_never_deployed_tool_fails_clearly(
    client: TestClient, machete: Machete
) -> None:
    machete.store.create_tool(name="t", source_kind="git", source_url="https://x/t.git")
    resp = await client.post("/api/tools/t/start")
    assert resp.status == 202
    op_id = (await resp.json())["operation_id"]
    for _ in range(100):
        op = (await (await client.get(f"/api/operations/{op_id}")).json())["operation"]
        if op["done"]:
            break
        import asyncio

        await asyncio.sleep(0.05)
    assert op["status"] == "failed" and op["error_code"] == "not_running"
    log = await (await client.get(f"/api/operations/{op_id}/log")).json()
    assert "not_running" in log["text"] and log["done"] is True
    assert await error_of(await client.post("/api/tools/t/explode"), 404) == "not_found"


async def test_bad_query_values_are_422(client: TestClient, machete: Machete) -> None:
    machete.store.create_tool(name="t", source_kind="git", source_url="https://x/t.git")
    assert await error_of(await client.get("/api/tools/t/logs?tail=x"), 422) == "invalid_input"
    assert await error_of(await client.get("/api/tools/t/logs?tail=-1"), 422) == "invalid_input"
    assert await error_of(await client.get("/api/operations?limit=0"), 422) == "invalid_input"


async def test_cross_site_requests_cannot_change_state(client: TestClient) -> None:
    resp = await client.post(
        "/api/tools",
        json={"url": "https://example.com/x.git"},
        headers={"Origin": "https://evil.example"},
    )
    assert await error_of(resp, 403) == "cross_origin"
    resp = await client.post(
        "/api/tools",
        json={"url": "https://example.com/x.git"},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert resp.status == 403


async def test_plugins_endpoint(client: TestClient) -> None:
    data = await (await client.get("/api/plugins")).json()
    names = {p["name"]: p for p in data["plugins"]}
    assert {"git", "docker-builder", "docker-runtime"} <= set(names)
    assert names["git"]["providers"][0]["available"] is True


async def test_dashboard_page(client: TestClient) -> None:
    resp = await client.get("/")
    assert resp.status == 200 and "MACHETE" in await resp.text()


async def test_actions_without_a_body_or_content_type_are_not_uploads(
    client: TestClient, machete: Machete
) -> None:
    machete.store.create_tool(name="t", source_kind="git", source_url="https://x/t.git")
    resp = await client.post("/api/tools/t/deploy", skip_auto_headers={"Content-Type"})
    assert resp.status == 202  # a deploy, not an empty upload


async def test_empty_upload_is_refused(client: TestClient) -> None:
    resp = await client.post("/api/tools", data=b"", headers={"Content-Type": "application/gzip"})
    assert resp.status == 422


async def test_config_routes(client: TestClient, machete: Machete) -> None:
    machete.store.create_tool(name="t", source_kind="git", source_url="https://x/t.git")
    resp = await client.put(
        "/api/tools/t/config", json={"values": {"TOKEN": "hunter22"}, "secret": True}
    )
    assert resp.status == 200, await resp.text()  # never deployed: saved for the next deploy
    body = await resp.json()
    [entry] = body["config"]
    assert {k: entry[k] for k in ("key", "value", "secret")} == {
        "key": "TOKEN",
        "value": "***",
        "secret": True,
    }
    assert entry["updated_by"] == "token:owner" and entry["updated_at"] > 0  # who and when
    assert "hunter22" not in await (await client.get("/api/tools/t/config")).text()
    await client.put("/api/tools/t/config", json={"values": {"PLAIN": "x"}})
    resp = await client.delete("/api/tools/t/config/PLAIN")
    assert [c["key"] for c in (await resp.json())["config"]] == ["TOKEN"]
    for bad in ({"values": {"1X": "y"}}, {"values": {"A": 1}}, {"values": []}, {}):
        assert (
            await error_of(await client.put("/api/tools/t/config", json=bad), 422)
            == "invalid_input"
        )
    assert (await client.get("/api/tools/nope/config")).status == 404
    # The sealed value in the database is not the secret either.
    with machete.store.engine.connect() as conn:
        stored = [row[0] for row in conn.exec_driver_sql("SELECT value FROM tool_config")]
    assert stored and all("hunter22" not in value for value in stored)
    if machete.store.engine.dialect.name == "sqlite":
        files = list(machete.settings.home.glob("machete.db*"))  # the database and its WAL
        assert files and all(b"hunter22" not in f.read_bytes() for f in files)
        assert any(b"TOKEN" in f.read_bytes() for f in files)  # the check looks where data is


async def test_builder_setting(client: TestClient, machete: Machete) -> None:
    machete.store.create_tool(name="t", source_kind="git", source_url="https://x/t.git")
    data = await (await client.patch("/api/tools/t", json={"builder": "docker"})).json()
    assert data["tool"]["builder"] == "docker"
    data = await (await client.patch("/api/tools/t", json={"builder": None})).json()
    assert data["tool"]["builder"] is None
    assert (
        await error_of(await client.patch("/api/tools/t", json={"builder": "nope"}), 422)
        == "invalid_input"
    )


async def test_rollback_validation(client: TestClient, machete: Machete) -> None:
    machete.store.create_tool(name="t", source_kind="git", source_url="https://x/t.git")
    for bad in ({"release": "2"}, {"release": True}):
        assert (
            await error_of(await client.post("/api/tools/t/rollback", json=bad), 422)
            == "invalid_input"
        )


async def test_event_stream_and_log_follow(client: TestClient, machete: Machete) -> None:
    machete.store.create_tool(name="t", source_kind="git", source_url="https://x/t.git")
    async with client.ws_connect("/api/events") as events:
        await client.put("/api/tools/t/config", json={"values": {"A": "1"}})
        msg = await events.receive_json(timeout=10)
        assert (
            msg["kind"] == "tool.configured" and msg["tool"] == "t" and msg["data"]["keys"] == ["A"]
        )
        resp = await client.post("/api/tools/t/start")
        op_id = (await resp.json())["operation_id"]
        kinds = set()
        while "operation.finished" not in kinds:
            kinds.add((await events.receive_json(timeout=10))["kind"])
        assert "operation.started" in kinds
    async with client.ws_connect(f"/api/operations/{op_id}/log/follow") as follow:
        lines = [msg.data async for msg in follow]
    assert any("not_running" in line for line in lines)


async def test_websockets_refuse_other_sites(client: TestClient) -> None:
    resp = await client.get(
        "/api/events",
        headers={
            "Origin": "https://evil.example",
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
        },
    )
    assert resp.status == 403


async def test_events_of_other_processes_reach_the_stream(
    client: TestClient, machete: Machete, settings: Settings
) -> None:
    other = create_machete(settings)  # another process on the same state
    try:
        async with client.ws_connect("/api/events?tool=t") as events:
            other.events.publish("tool.custom", tool="other-tool")
            other.events.publish("tool.custom", tool="t", n=1)
            msg = await events.receive_json(timeout=10)
            assert msg["kind"] == "tool.custom" and msg["data"] == {"n": 1} and msg["tool"] == "t"
            first = msg["id"]
        other.events.publish("tool.custom", tool="t", n=2)
        async with client.ws_connect(f"/api/events?after={first}") as replay:
            msg = await replay.receive_json(timeout=10)
            assert msg["data"] == {"n": 2} and msg["id"] > first
    finally:
        other.close()
    assert await error_of(await client.get("/api/events?after=x"), 422) == "invalid_input"


async def test_wait_for_a_busy_tool(
    client: TestClient, machete: Machete, settings: Settings
) -> None:
    import asyncio

    machete.store.create_tool(name="t", source_kind="git", source_url="https://x/t.git")
    other = create_machete(settings)
    try:
        held = other.submit("stop", "t")  # another process is busy with the tool
        busy = await client.post("/api/tools/t/start")
        assert await error_of(busy, 409) == "tool_busy"
        assert (
            await error_of(await client.post("/api/tools/t/start?wait=x"), 422) == "invalid_input"
        )
        waiting = asyncio.ensure_future(client.post("/api/tools/t/start?wait=30"))
        await asyncio.sleep(0.5)
        assert not waiting.done()
        await asyncio.get_running_loop().run_in_executor(None, _run_quietly, other, held.id)
        resp = await asyncio.wait_for(waiting, 20)
        assert resp.status == 202
    finally:
        other.close()


def _run_quietly(m: Machete, op_id: str) -> None:
    try:
        m.run(op_id)
    except Exception:  # the stop of a never-deployed tool fails; what matters is that it ends
        pass
