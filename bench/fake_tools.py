"""Tools recorded straight in the store, live on a benchmark's own runtime: for measuring what
sits in front of instances (listings, the health monitor) without building anything."""

from __future__ import annotations

from collections.abc import Callable

from machete_core.machete import Machete


def populate(
    m: Machete,
    count: int,
    *,
    runtime: str,
    instance_id: Callable[[int], str],
    spec: dict[str, object] | None = None,
) -> None:
    spec = spec or {"port": 8080, "health_check": "/health"}
    for i in range(count):
        tool = m.store.create_tool(
            name=f"tool-{i:04d}",
            source_kind="git",
            source_url="https://example.com/t.git",
            spec=spec,
            status="running",
        )
        rel = m.store.create_release(
            tool.id,
            key="k",
            builder="docker",
            runtime=runtime,
            status="live",
            instance_id=instance_id(i),
            spec=spec,
        )
        m.store.update_tool(tool.id, current_release_id=rel.id)
