"""Install-time and later overrides over HTTP: stored with the install, changed with PATCH,
refused with the field's path when no deploy could use them."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from machete_core.machete import Machete


@pytest.fixture
def machete(bundled_machete: Machete) -> Machete:
    return bundled_machete


@pytest.fixture
def client(api_client: TestClient) -> TestClient:
    return api_client


async def test_install_stores_the_overrides_with_the_operation(
    client: TestClient, machete: Machete
) -> None:
    body = {
        "url": "https://example.com/x.git",
        "name": "x",
        "port": 8501,
        "health_path": "none",
        "subdir": "services/api",
        "dockerfile": "Dockerfile.prod",
        "target": "app",
        "build_args": {"VERSION": "1"},
    }
    resp = await client.post("/api/tools", json=body)
    assert resp.status == 202, await resp.text()
    op = (await resp.json())["operation"]
    assert op["params"]["overrides"] == {
        "port": 8501,
        "health_path": "none",
        "subdir": "services/api",
        "dockerfile": "Dockerfile.prod",
        "target": "app",
        "build_args": {"VERSION": "1"},
    }
    machete.cancel(op["id"])


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"port": 70000}, "port"),
        ({"port": "80"}, "$.port"),
        ({"subdir": "../elsewhere"}, "subdir"),
        ({"health_path": "health"}, "health path"),
        ({"build_args": {"BUILDKIT_SYNTAX": "evil/frontend"}}, "BUILDKIT"),
        ({"target": "a b"}, "target"),
    ],
)
async def test_overrides_no_deploy_could_use_are_refused(
    client: TestClient, body: dict[str, object], path: str
) -> None:
    resp = await client.post("/api/tools", json={"url": "https://example.com/x.git", **body})
    assert resp.status == 422
    error = (await resp.json())["error"]
    assert error["code"] in ("invalid_input", "unsafe_dockerfile")
    assert path in error["message"]


async def test_patch_sets_and_clears_overrides(client: TestClient, machete: Machete) -> None:
    machete.store.create_tool(
        name="t", source_kind="git", source_url="https://x/t.git", spec={}, status="pending"
    )
    resp = await client.patch(
        "/api/tools/t", json={"port": 5000, "build_args": {"A": "1"}, "health_path": "/hc"}
    )
    assert resp.status == 200, await resp.text()
    stored = machete.store.get_tool("t").overrides
    assert (stored["port"], stored["build_args"], stored["health_path"]) == (
        5000,
        {"A": "1"},
        "/hc",
    )
    resp = await client.patch("/api/tools/t", json={"clear": ["port"], "build_args": {"B": "2"}})
    stored = machete.store.get_tool("t").overrides
    assert stored["port"] is None and stored["build_args"] == {"A": "1", "B": "2"}
    resp = await client.patch("/api/tools/t", json={"clear": ["colour"]})
    assert resp.status == 422 and "no such setting" in (await resp.json())["error"]["message"]
