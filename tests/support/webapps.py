"""The two applications of ``machete serve`` (API and tools listener) under aiohttp's test
client, the way the server runs them."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from machete_core.machete import Machete
from machete_web import create_app
from machete_web.app import TOOLS_LISTENER
from machete_web.proxy.app import create_tools_app


async def api_and_tools(aiohttp_client: Any, machete: Machete) -> tuple[TestClient, TestClient]:
    api = await aiohttp_client(create_app(machete=machete))
    tools = await aiohttp_client(create_tools_app(api.app))
    api.app[TOOLS_LISTENER].port = tools.port
    return api, tools
