"""The contract every runtime must pass, as a pytest test class.

Both bundled runtimes (``docker`` and ``swarm``) run it; a third-party runtime runs it too::

    from machete_plugins.testing.runtime_contract import RuntimeContract

    class TestMyRuntime(RuntimeContract):
        @pytest.fixture
        def runtime(self, installation):
            return MyRuntime(Settings(installation=installation))

        @pytest.fixture
        def http_image(self):
            return "my-http-tool:latest"  # serves /health with 200 on port 8080 and
                                          # prints "tool starting" when it starts

Instances are read back from the Docker engine (the containers that carry the plan's labels)
to check the hardening, so the runtime must run its instances on the local engine. Needs
pytest and a Docker engine; every test removes what it started.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest

from machete_core.domain import labels
from machete_core.domain.records import Endpoint, RunPlan
from machete_core.errors import MacheteError
from machete_core.health import probe
from machete_core.plugins.protocols import Runtime

PORT = 8080


def until(check: Callable[[], Any], timeout: float = 60.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except MacheteError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what or check}: last {last!r}")


def engine_containers(selector: dict[str, str]) -> list[dict[str, Any]]:
    import docker

    client = docker.from_env()
    try:
        filters = {"label": [f"{k}={v}" for k, v in selector.items()]}
        found = client.containers.list(all=True, filters=filters, ignore_removed=True)
        return [c.attrs for c in found]
    finally:
        client.close()


def contract_plan(image: str, installation: str, **changes: Any) -> RunPlan:
    """A hardened plan for a new tool of ``installation`` running ``image``."""
    tool = f"contract-{uuid.uuid4().hex[:6]}"
    plan = RunPlan(
        tool=tool,
        release=1,
        name=f"machete-tool-{tool}-r1",
        image=image,
        port=PORT,
        environment={"GREETING": "hi"},
        mounts=(),
        labels=labels.for_release(installation, tool, 1),
        memory_bytes=256 * 1024**2,
        nano_cpus=500_000_000,
        pids_limit=64,
        read_only_root=True,
        network=f"machete-{installation}-{tool}",
    )
    return attrs.evolve(plan, **changes)


class RuntimeContract:
    """Same plans, same expectations, for every runtime."""

    #: Hardening fields this runtime may legitimately lack on this engine (admin-accepted).
    accepted_missing: tuple[str, ...] = ()

    @pytest.fixture
    def runtime(self) -> Runtime:
        pytest.fail("a RuntimeContract subclass must define the 'runtime' fixture")

    @pytest.fixture
    def http_image(self) -> str:
        pytest.fail("a RuntimeContract subclass must define the 'http_image' fixture")

    @pytest.fixture
    def plan(self, http_image: str, installation: str) -> RunPlan:
        return contract_plan(http_image, installation)

    @pytest.fixture
    def started(self, runtime: Runtime, plan: RunPlan) -> Iterator[str]:
        instance = runtime.start(plan)
        try:
            yield instance.id
        finally:
            runtime.stop(instance.id, timeout=2)
            runtime.remove(instance.id)
            runtime.cleanup(labels.owned_by(plan.labels[labels.INSTALLATION], plan.tool))

    def healthy(self, runtime: Runtime, instance_id: str) -> Endpoint:
        def check() -> Endpoint | None:
            endpoint = runtime.endpoint(instance_id, PORT)
            return endpoint if probe(endpoint, "/health", timeout=2.0).healthy else None

        result: Endpoint = until(check, what="a healthy instance")
        return result

    def test_start_runs_an_instance_that_answers(
        self, runtime: Runtime, plan: RunPlan, started: str
    ) -> None:
        endpoint = self.healthy(runtime, started)
        assert endpoint.port == PORT or endpoint.port > 0
        state = runtime.inspect(started)
        assert state.state == "running" and state.labels[labels.TOOL] == plan.tool

    def test_instances_are_found_by_their_labels(
        self, runtime: Runtime, plan: RunPlan, started: str
    ) -> None:
        mine = runtime.list(labels.owned_by(plan.labels[labels.INSTALLATION], plan.tool))
        assert [s.id for s in mine] == [started]
        assert runtime.list(labels.owned_by("another-installation", plan.tool)) == []

    def test_stop_and_resume(self, runtime: Runtime, started: str) -> None:
        self.healthy(runtime, started)
        runtime.stop(started, timeout=2)
        until(lambda: runtime.inspect(started).state == "stopped", what="stopped")
        runtime.resume(started)
        self.healthy(runtime, started)

    def test_logs_carry_the_instance_output(self, runtime: Runtime, started: str) -> None:
        self.healthy(runtime, started)
        until(
            lambda: any("tool starting" in line for line in runtime.logs(started, tail=50)),
            what="the start line in the logs",
        )

    def test_hardening_is_applied(self, runtime: Runtime, plan: RunPlan, started: str) -> None:
        self.healthy(runtime, started)
        containers = engine_containers(dict(plan.labels))
        assert containers, "no container carries the plan's labels"
        for container in containers:
            host = container["HostConfig"]
            assert host["CapDrop"] == ["ALL"]
            assert host["ReadonlyRootfs"] is True
            assert host["Init"] is True
            assert host["PidsLimit"] == plan.pids_limit
            assert host["Memory"] == plan.memory_bytes
            assert host["NanoCpus"] == plan.nano_cpus
            if "no_new_privileges" not in self.accepted_missing:
                assert "no-new-privileges:true" in (host.get("SecurityOpt") or [])
            assert "GREETING=hi" in container["Config"]["Env"]

    def test_remove_leaves_nothing(self, runtime: Runtime, plan: RunPlan) -> None:
        instance = runtime.start(plan)
        self.healthy(runtime, instance.id)
        runtime.stop(instance.id, timeout=2)
        runtime.remove(instance.id)
        runtime.cleanup(labels.owned_by(plan.labels[labels.INSTALLATION], plan.tool))
        assert runtime.inspect(instance.id).state == "missing"
        assert engine_containers(dict(plan.labels)) == []
        runtime.remove(instance.id)  # removing twice is not an error
