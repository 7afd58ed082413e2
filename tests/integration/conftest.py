"""Integration fixtures: the machine's real Docker engine, a local base image, a Git server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from machete_core.domain import labels
from machete_core.machete import Machete, create_machete
from machete_core.settings import Settings
from machete_plugins import BUILTIN_PLUGINS
from tests.conftest import docker_available
from tests.support.git_server import GitHTTPServer
from tests.support.images import ensure_busybox_image
from tests.support.registry import LocalRegistry


@pytest.fixture(scope="session", autouse=True)
def _engine() -> None:
    if not docker_available():
        pytest.fail("integration tests need the Docker engine: run scripts/setup.sh")


@pytest.fixture(scope="session")
def busybox_image() -> str:
    return ensure_busybox_image()


@pytest.fixture(scope="session")
def git_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("git-repos")


@pytest.fixture(scope="session")
def git_server(git_root: Path) -> Iterator[GitHTTPServer]:
    server = GitHTTPServer(git_root).start()
    yield server
    server.stop()


def owned_networks(installation: str) -> list[str]:
    import docker

    client = docker.from_env()
    try:
        selector = [f"{labels.INSTALLATION}={installation}"]
        return [n.name for n in client.networks.list(filters={"label": selector})]
    finally:
        client.close()


def owned_objects(installation: str) -> tuple[list[str], list[str]]:
    import docker

    client = docker.from_env()
    try:
        selector = [f"{labels.INSTALLATION}={installation}"]
        containers = [
            c.name
            for c in client.containers.list(
                all=True, filters={"label": selector}, ignore_removed=True
            )
        ]
        images = [i.id for i in client.images.list(filters={"label": selector})]
        return containers, images
    finally:
        client.close()


def purge_installation(installation: str) -> None:
    import docker

    client = docker.from_env()
    try:
        selector = [f"{labels.INSTALLATION}={installation}"]
        for c in client.containers.list(all=True, filters={"label": selector}):
            c.remove(force=True)
        for i in client.images.list(filters={"label": selector}):
            try:
                client.images.remove(i.id, force=True)
            except docker.errors.NotFound:
                pass
        for n in client.networks.list(filters={"label": selector}):
            n.remove()
    finally:
        client.close()


@pytest.fixture(autouse=True)
def _cleanup(installation: str) -> Iterator[None]:
    """Whatever a test leaves behind in the engine is removed (and tests can assert on it)."""
    yield
    purge_installation(installation)


@pytest.fixture
def machete(settings: Settings, busybox_image: str) -> Iterator[Machete]:
    m = create_machete(settings, builtins=BUILTIN_PLUGINS)
    yield m
    m.close()


@pytest.fixture(scope="session")
def swarm() -> Iterator[None]:
    """A single-node swarm: initialized if the engine is not in one, and left afterwards
    (with the networks that joining made), so the engine ends as it was found."""
    import docker

    client = docker.from_env()
    try:
        state = (client.info().get("Swarm") or {}).get("LocalNodeState")
        before = {n.name for n in client.networks.list()}
        made = state != "active"
        if made:
            client.swarm.init(advertise_addr="127.0.0.1", listen_addr="127.0.0.1:2377")
        yield
        if made:
            client.swarm.leave(force=True)
            _remove_networks_made_by_swarm(client, before)
    finally:
        client.close()


def _remove_networks_made_by_swarm(client: Any, before: set[str]) -> None:
    import time

    import docker

    deadline = time.monotonic() + 30
    for network in client.networks.list():
        if network.name in before or network.name not in ("docker_gwbridge", "ingress"):
            continue
        while True:  # containers of removed services detach in the background
            try:
                network.remove()
                break
            except docker.errors.NotFound:
                break
            except docker.errors.APIError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)


@pytest.fixture(scope="session")
def http_tool_image(busybox_image: str) -> str:
    """A busybox httpd tool image (the fixture tool), built once with the engine's builder."""
    import io
    import tarfile

    import docker

    from tests.support.images import http_tool_files

    tag = "machete-test/http-tool:latest"
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, text in http_tool_files("contract tool").items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    client = docker.from_env()
    try:
        for _ in client.api.build(fileobj=context, custom_context=True, tag=tag, rm=True):
            pass
        client.images.get(tag)
    finally:
        client.close()
    return tag


@pytest.fixture(scope="session")
def registry() -> Iterator[LocalRegistry]:
    server = LocalRegistry().start()
    yield server
    server.stop()
