"""The two applications of ``machete serve`` (API and tools listener) under aiohttp's test
client, the way the server runs them, signed in as an owner (a bearer token) unless asked
otherwise."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from machete_core.machete import Machete
from machete_web import create_app
from machete_web.app import TOOLS_LISTENER
from machete_web.proxy.app import create_tools_app
from tests.support.people import owner_headers


async def api_and_tools(
    aiohttp_client: Any, machete: Machete, *, signed_in: bool = True
) -> tuple[TestClient, TestClient]:
    headers = owner_headers(machete) if signed_in else {}
    api = await aiohttp_client(create_app(machete=machete), headers=headers)
    tools = await aiohttp_client(create_tools_app(api.app), headers=headers)
    api.app[TOOLS_LISTENER].port = tools.port
    return api, tools


async def owner_client(aiohttp_client: Any, app: web.Application, machete: Machete) -> TestClient:
    """``app`` under the test client, every request carrying an owner's token."""
    return await aiohttp_client(app, headers=owner_headers(machete))  # type: ignore[no-any-return]
