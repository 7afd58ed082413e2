"""Unit-test fixtures shared across modules."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from machete_core.machete import Machete, create_machete
from machete_core.settings import Settings
from machete_plugins import BUILTIN_PLUGINS
from machete_web import create_app
from tests.support.people import owner_headers
from tests.support.pointing import pointing_machete

__all__ = ["api_client", "bundled_machete", "pointing_machete"]


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
