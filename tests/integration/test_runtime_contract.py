"""The runtime contract suite, run by both bundled runtimes, and what only Swarm does."""

from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest

from machete_core.domain import labels
from machete_core.domain.records import RunPlan
from machete_core.settings import Settings
from machete_plugins.docker_runtime import DockerRuntime
from machete_plugins.swarm_runtime import HardeningUnsupportedError, SwarmRuntime
from machete_plugins.testing.runtime_contract import (
    RuntimeContract,
    contract_plan,
    engine_containers,
    until,
)
from tests.support.registry import LocalRegistry


def engine_api() -> tuple[int, int]:
    client = docker.from_env()
    try:
        major, minor = client.version()["ApiVersion"].split(".")
    finally:
        client.close()
    return int(major), int(minor)


#: Services get no-new-privileges from API 1.44 (Docker 25); older engines drop it.
SWARM_LACKS = ("no_new_privileges",) if engine_api() < (1, 44) else ()


class TestDockerRuntime(RuntimeContract):
    @pytest.fixture
    def runtime(self, installation: str) -> Iterator[DockerRuntime]:
        rt = DockerRuntime(Settings(installation=installation))
        yield rt
        rt.close()

    @pytest.fixture
    def http_image(self, http_tool_image: str) -> str:
        return http_tool_image


class TestSwarmRuntime(RuntimeContract):
    accepted_missing = SWARM_LACKS

    @pytest.fixture
    def runtime(self, installation: str, swarm: None) -> Iterator[SwarmRuntime]:
        rt = SwarmRuntime(Settings(installation=installation, swarm_accept_missing=SWARM_LACKS))
        yield rt
        rt.close()

    @pytest.fixture
    def http_image(self, http_tool_image: str) -> str:
        return http_tool_image


@pytest.fixture
def swarm_plan(http_tool_image: str, installation: str) -> RunPlan:
    return contract_plan(http_tool_image, installation, replicas=2)


@pytest.mark.skipif(not SWARM_LACKS, reason="this engine applies every hardening field")
def test_a_dropped_hardening_field_fails_the_deploy_loudly(
    swarm: None, swarm_plan: RunPlan, installation: str
) -> None:
    rt = SwarmRuntime(Settings(installation=installation))  # nothing accepted
    try:
        with pytest.raises(HardeningUnsupportedError) as refused:
            rt.start(swarm_plan)
        assert refused.value.code == "hardening_unsupported"
        assert refused.value.details["missing"] == ["no_new_privileges"]
        assert "MACHETE_SWARM_ACCEPT_MISSING=no_new_privileges" in refused.value.message
        assert rt.list(labels.owned_by(installation)) == []  # the service was removed
    finally:
        rt.cleanup(labels.owned_by(installation, swarm_plan.tool))
        rt.close()


def test_images_go_through_the_registry_by_digest_and_scale_rolls(
    swarm: None, swarm_plan: RunPlan, installation: str, registry: LocalRegistry
) -> None:
    rt = SwarmRuntime(
        Settings(
            installation=installation, registry=registry.address, swarm_accept_missing=SWARM_LACKS
        )
    )
    client = docker.from_env()
    instance = rt.start(swarm_plan)
    try:
        service = client.api.inspect_service(instance.id)
        image = service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
        repository = f"machete-{installation}/{swarm_plan.tool}"
        assert image.startswith(f"{registry.address}/{repository}@sha256:")
        assert registry.tags(repository) == ["r1"]
        until(lambda: len(rt.endpoints(instance.id, 8080)) == 2, what="two replicas")
        assert service["Spec"]["UpdateConfig"]["Order"] == "start-first"
        assert service["Spec"]["UpdateConfig"]["FailureAction"] == "rollback"

        rt.scale(instance.id, 3)
        until(lambda: len(rt.endpoints(instance.id, 8080)) == 3, what="three replicas")
        hosts = {e.host for e in rt.endpoints(instance.id, 8080)}
        assert len(hosts) == 3
        assert len(engine_containers(dict(swarm_plan.labels))) >= 3
        # Logs come from every replica through the service's logs.
        until(
            lambda: sum("tool starting" in line for line in rt.logs(instance.id, tail=100)) >= 3,
            what="three start lines",
        )
    finally:
        rt.stop(instance.id, timeout=2)
        rt.remove(instance.id)
        rt.cleanup(labels.owned_by(installation, swarm_plan.tool))
        rt.close()
        for img in client.images.list(name=f"{registry.address}/machete-{installation}/*"):
            client.images.remove(img.id, force=True)
        client.close()
