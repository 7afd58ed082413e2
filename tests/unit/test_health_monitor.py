"""The health monitor's rounds, probing real HTTP endpoints on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from machete_core.domain.records import Event
from machete_core.machete import Machete
from machete_web import create_app
from machete_web.health_monitor import monitor_round
from tests.support.people import owner_headers
from tests.support.pointing import UPSTREAM, deployed

STATE = {"code": 200}


async def health(request: web.Request) -> web.Response:
    return web.Response(status=STATE["code"], text="h")


@pytest.fixture
async def upstream() -> AsyncIterator[TestServer]:
    app = web.Application()
    app.router.add_get("/health", health)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    UPSTREAM["port"] = server.port  # type: ignore[assignment]
    yield server
    await server.close()


async def test_changes_are_recorded_and_published(
    aiohttp_client: Any, pointing_machete: Machete, upstream: TestServer
) -> None:
    machete = pointing_machete
    client: TestClient = await aiohttp_client(
        create_app(machete=machete), headers=owner_headers(machete)
    )
    for name in ("one", "two", "three"):
        deployed(machete, name)
    seen: list[Event] = []
    machete.events.subscribe(lambda e: seen.append(e) if e.kind == "tool.health" else None)
    app = client.server.app
    STATE["code"] = 200
    assert await monitor_round(app) == 3  # first sight: healthy, recorded
    assert await monitor_round(app) == 0  # no change, nothing stored
    STATE["code"] = 503
    assert await monitor_round(app) == 3
    history = machete.health_history("two")
    assert [h.health for h in history] == ["unhealthy", "healthy"]
    assert history[0].detail == "HTTP 503"
    assert [e.data["health"] for e in seen if e.tool == "one"] == ["healthy", "unhealthy"]
    resp = await client.get("/api/tools/two/health/history")
    assert [h["health"] for h in (await resp.json())["history"]] == ["unhealthy", "healthy"]
    STATE["code"] = 200
