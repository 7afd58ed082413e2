"""What ``GET /api/ingress`` (and so ``machete ingress status`` and the Settings page) says
of the built-in ingress's process, which only the server that runs it can see."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from machete_core.domains import ListenerView
from machete_core.machete import Machete, create_machete
from machete_core.settings import Settings
from machete_plugins import BUILTIN_PLUGINS
from machete_web.keys import TOOLS_LISTENER


@pytest.fixture
def machete(settings: Settings) -> Iterator[Machete]:
    m = create_machete(settings, builtins=BUILTIN_PLUGINS)
    yield m
    m.close()


async def ingress_of(api_client: Any, state: ListenerView | None) -> dict[str, Any]:
    if state is not None:
        api_client.server.app[TOOLS_LISTENER].state = lambda: state
    resp = await api_client.get("/api/ingress")
    assert resp.status == 200
    found: dict[str, Any] = (await resp.json())["ingress"]
    return found


async def test_without_a_listener_of_its_own_nothing_is_said_of_one(api_client: Any) -> None:
    found = await ingress_of(api_client, None)
    assert found["name"] == "builtin" and found["listener"] is None and found["problem"] is None


async def test_a_running_listener_is_shown_with_its_restarts(api_client: Any) -> None:
    state = ListenerView(pid=4321, port=8081, running=True, restarts=2, last_exit=-9)
    found = await ingress_of(api_client, state)
    assert found["problem"] is None
    assert found["listener"] == {
        "pid": 4321,
        "port": 8081,
        "running": True,
        "restarts": 2,
        "last_exit": -9,
    }


async def test_a_listener_that_is_not_running_is_the_ingress_problem(api_client: Any) -> None:
    state = ListenerView(pid=4321, port=8081, running=False, restarts=0, last_exit=1)
    found = await ingress_of(api_client, state)
    assert found["listener"]["running"] is False
    assert found["problem"] == (
        "the tools' listener is not running (it ended with status 1); the server starts it again"
    )
