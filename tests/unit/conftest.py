"""Unit-test fixtures shared across modules."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from machete_core.machete import Machete, create_machete
from machete_core.settings import Settings
from machete_plugins import BUILTIN_PLUGINS
from machete_web import create_app
from tests.support import openapi_check
from tests.support.people import owner_headers
from tests.support.pointing import pointing_machete

__all__ = ["api_client", "bundled_machete", "pointing_machete"]


@pytest.fixture(autouse=True)
def _answers_match_the_openapi_document(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every answer an API test gets through aiohttp's test client is checked against the
    OpenAPI document (status declared, JSON body valid); the test fails at teardown if not."""
    found: list[str] = []
    original = TestClient._request

    async def checked(self: TestClient, method: str, path: Any, **kwargs: Any) -> Any:
        resp = await original(self, method, path, **kwargs)
        # Streams (SSE, NDJSON) are not read here: they may never end.
        if resp.content_type == "application/json":
            try:
                body = await resp.read()
            except aiohttp.ClientPayloadError:
                return resp  # a connection cut on purpose (the proxy tests)
            found.extend(
                openapi_check.problems(method, resp.url.path, resp.status, resp.content_type, body)
            )
        elif resp.status >= 400 and resp.url.path.startswith("/api/"):
            found.extend(
                openapi_check.problems(method, resp.url.path, resp.status, resp.content_type, b"")
            )
        return resp

    monkeypatch.setattr(TestClient, "_request", checked)
    yield
    assert not found, "answers that break the OpenAPI document:\n" + "\n".join(found)


@pytest.fixture
def bundled_machete(settings: Settings) -> Iterator[Machete]:
    """A Machete with the bundled plugins on the test's settings."""
    m = create_machete(settings, builtins=BUILTIN_PLUGINS)
    yield m
    m.close()


@pytest.fixture
async def api_client(aiohttp_client: Any, machete: Machete) -> TestClient:
    """The API application of the module's ``machete`` under aiohttp's test client."""
    return await aiohttp_client(create_app(machete=machete), headers=owner_headers(machete))
