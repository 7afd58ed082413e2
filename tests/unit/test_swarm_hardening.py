"""The Swarm runtime's read-back of hardening, field by field, on engine answers as data."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from machete_core.domain.records import RunPlan
from machete_plugins.swarm_runtime import hardening_spec, missing_hardening

PLAN = RunPlan(
    tool="t",
    release=1,
    name="machete-tool-t-r1",
    image="img",
    port=8080,
    environment={},
    mounts=(),
    labels={},
    memory_bytes=256 * 1024**2,
    nano_cpus=500_000_000,
    pids_limit=64,
    read_only_root=True,
    cap_add=("NET_BIND_SERVICE",),
)


def inspected(plan: RunPlan) -> dict[str, Any]:
    """What an engine that keeps every field answers to ``service inspect``."""
    want = hardening_spec(plan)
    spec = {k: v for k, v in want.items() if k != "Limits"}
    return {
        "Spec": {"TaskTemplate": {"ContainerSpec": spec, "Resources": {"Limits": want["Limits"]}}}
    }


def test_an_engine_that_keeps_everything_lacks_nothing() -> None:
    assert missing_hardening(PLAN, inspected(PLAN)) == []


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (("ContainerSpec", "Privileges"), "no_new_privileges"),  # what API 1.41 drops
        (("ContainerSpec", "ReadOnly"), "read_only"),
        (("ContainerSpec", "Init"), "init"),
        (("ContainerSpec", "CapabilityDrop"), "cap_drop"),
        (("ContainerSpec", "CapabilityAdd"), "cap_add"),
        (("Resources", "Limits", "Pids"), "pids"),
        (("Resources", "Limits", "MemoryBytes"), "memory"),
        (("Resources", "Limits", "NanoCPUs"), "cpu"),
    ],
)
def test_each_dropped_field_is_named(path: tuple[str, ...], field: str) -> None:
    answer = copy.deepcopy(inspected(PLAN))
    node = answer["Spec"]["TaskTemplate"]
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    assert missing_hardening(PLAN, answer) == [field]
