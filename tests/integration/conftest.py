"""Integration fixtures: the machine's real Docker engine, a local base image, a Git server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from machete_core.domain import labels
from machete_core.machete import Machete, create_machete
from machete_core.settings import Settings
from machete_plugins import BUILTIN_PLUGINS
from tests.conftest import docker_available
from tests.support.git_server import GitHTTPServer
from tests.support.images import ensure_busybox_image


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
        containers = [c.name for c in client.containers.list(all=True, filters={"label": selector})]
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
