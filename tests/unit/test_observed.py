"""Listings and views read observed state, never the engine per request (issue 10 item 14)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from machete_core.domain.records import InstanceState
from machete_core.machete import Machete
from tests.support.pointing import PointingRuntime, deployed


@pytest.fixture
def machete(pointing_machete: Machete) -> Machete:
    return pointing_machete


@pytest.fixture
def client(api_client: TestClient) -> TestClient:
    return api_client


@pytest.fixture
def engine_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    inspect, endpoint = PointingRuntime.inspect, PointingRuntime.endpoint

    def counting_inspect(self: Any, instance_id: str) -> InstanceState:
        calls.append(f"inspect {instance_id}")
        return inspect(self, instance_id)

    def counting_endpoint(self: Any, instance_id: str, port: int) -> Any:
        calls.append(f"endpoint {instance_id}")
        return endpoint(self, instance_id, port)

    monkeypatch.setattr(PointingRuntime, "inspect", counting_inspect)
    monkeypatch.setattr(PointingRuntime, "endpoint", counting_endpoint)
    return calls


async def test_listings_cost_no_engine_call_once_observed(
    client: TestClient, machete: Machete, engine_calls: list[str]
) -> None:
    from tests.support.pointing import UPSTREAM

    UPSTREAM["port"] = 1
    for i in range(10):
        deployed(machete, f"t{i}")
    machete.observed.watched = True  # as while machete serve follows the engine's events
    first = await (await client.get("/api/tools")).json()
    assert [t["status"] for t in first["tools"]] == ["running"] * 10
    assert len(engine_calls) == 20  # each instance observed once: inspect and endpoint
    engine_calls.clear()
    for _ in range(20):
        assert (await client.get("/api/tools")).status == 200
        assert (await client.get("/api/tools/t3")).status == 200
    assert engine_calls == []
    # An engine event about one instance observes just that one again.
    machete.refresh_instance("i-t3")
    assert engine_calls == ["inspect i-t3", "endpoint i-t3"]


def test_without_an_event_stream_observations_expire(
    machete: Machete, engine_calls: list[str]
) -> None:
    from tests.support.pointing import UPSTREAM

    UPSTREAM["port"] = 1
    deployed(machete, "t")
    machete.observed.max_age = 0.0
    machete.list_tools()
    machete.list_tools()
    assert len([c for c in engine_calls if c.startswith("inspect")]) == 2
