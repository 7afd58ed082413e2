"""Live streams over WebSockets read the core's followers without pinning a worker thread per
reader: many followers of a tool's logs leave the API answering on a two-thread pool."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from machete_core.machete import Machete, create_machete
from machete_core.settings import Settings
from machete_plugins import BUILTIN_PLUGINS
from machete_web import create_app
from tests.support.inprocess import InprocPlugin
from tests.support.people import owner_headers

FOLLOWERS = 8


async def _until_closed(ws: aiohttp.ClientWebSocketResponse) -> list[str]:
    lines = []
    while True:
        msg = await ws.receive(timeout=10)
        if msg.type != aiohttp.WSMsgType.TEXT:
            return lines
        lines.append(msg.data)


@pytest.fixture
def machete(tmp_path: Path) -> Iterator[Machete]:
    settings = Settings(home=tmp_path / "home", workers=2, health_check_interval=0)
    m = create_machete(settings, builtins=BUILTIN_PLUGINS)
    m.plugins.register(InprocPlugin(), "inproc")
    op = m.submit_install("https://example.test/t.git", source="inline", name="t")
    m.run(op.id)
    yield m
    m.close()


async def test_many_log_followers_leave_the_pool_free(
    aiohttp_client: Any, machete: Machete
) -> None:
    client = await aiohttp_client(create_app(machete=machete), headers=owner_headers(machete))
    sockets = [
        await client.ws_connect("/api/tools/t/logs/follow?tail=10") for _ in range(FOLLOWERS)
    ]
    for ws in sockets:
        first = await ws.receive(timeout=10)
        assert first.type == aiohttp.WSMsgType.TEXT and "says hello" in first.data
    # Eight streams wait; a two-thread pool still answers at once.
    for _ in range(5):
        resp = await asyncio.wait_for(client.get("/api/tools/t"), timeout=5)
        assert resp.status == 200
    # The tool goes: every stream says so and ends.
    await asyncio.get_running_loop().run_in_executor(None, machete.remove, "t")
    for ws in sockets:
        assert any("tool.removed" in line for line in await _until_closed(ws))


async def test_following_an_operation_log_ends_with_the_operation(
    aiohttp_client: Any, machete: Machete
) -> None:
    client = await aiohttp_client(create_app(machete=machete), headers=owner_headers(machete))
    op = machete.operations("t")[0]
    ws = await client.ws_connect(f"/api/operations/{op.id}/log/follow")
    lines = await _until_closed(ws)
    assert "==> fetch" in lines and lines[-1] == "install succeeded"


async def test_streams_refuse_other_sites(aiohttp_client: Any, machete: Machete) -> None:
    client = await aiohttp_client(create_app(machete=machete), headers=owner_headers(machete))
    resp = await client.get("/api/tools/t/logs/follow", headers={"Origin": "https://evil.example"})
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "cross_origin"
