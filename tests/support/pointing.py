"""A runtime whose every instance answers at a loopback server of the test's own.

For testing what sits in front of instances (the router, the health monitor) against real HTTP
without containers; the real runtime is tested in tests/integration.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from machete_core.domain.records import Endpoint, InstanceState
from machete_core.machete import Machete, create_machete
from machete_core.plugins import hookimpl
from machete_core.plugins.records import RuntimeProvider
from machete_core.settings import Settings
from machete_plugins import BUILTIN_PLUGINS

UPSTREAM: dict[str, int] = {}
UPSTREAM_OPEN: set[int] = set()


class PointingRuntime:
    """Every instance answers at the loopback upstream of this test."""

    def __init__(self, settings: Settings) -> None:
        pass

    def endpoint(self, instance_id: str, port: int) -> Endpoint:
        return Endpoint("127.0.0.1", UPSTREAM["port"])

    def inspect(self, instance_id: str) -> InstanceState:
        return InstanceState(id=instance_id, name=instance_id, state="running")

    def list(self, selector: Mapping[str, str]) -> list[InstanceState]:
        return []

    def logs(self, instance_id: str, tail: int | None = None, follow: bool = False) -> Any:
        return iter(())


class PointingPlugin:
    @hookimpl
    def machete_register_runtimes(self) -> list[RuntimeProvider]:
        return [RuntimeProvider(name="pointing", factory=PointingRuntime)]  # type: ignore[arg-type]


def deployed(m: Machete, name: str, *, strip: bool = True, status: str = "running") -> None:
    spec = {"port": 8080, "health_check": "/health", "strip_prefix": strip}
    tool = m.store.create_tool(
        name=name, source_kind="git", source_url="https://x/t.git", spec=spec, status=status
    )
    rel = m.store.create_release(
        tool.id,
        key="k",
        builder="docker",
        runtime="pointing",
        status="live",
        instance_id=f"i-{name}",
        spec=spec,
    )
    m.store.update_tool(tool.id, current_release_id=rel.id)


@pytest.fixture
def pointing_machete(settings: Settings) -> Iterator[Machete]:
    """A Machete with the pointing runtime registered beside the bundled plugins."""
    m = create_machete(settings, builtins=BUILTIN_PLUGINS)
    m.plugins.register(PointingPlugin(), "pointing")
    yield m
    m.close()
