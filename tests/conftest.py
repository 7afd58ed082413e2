"""Shared fixtures. Unit tests need no daemon; ``docker``-marked tests use the real engine."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from machete_core.settings import Settings

# Never let the developer's own state or proxy settings leak into tests.
for var in (
    "MACHETE_HOME",
    "MACHETE_DATABASE_URL",
    "http_proxy",
    "https_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
):
    os.environ.pop(var, None)


#: The tests' Git and HTTP servers listen on loopback, which sources may not reach by default.
LOOPBACK = ("127.0.0.0/8",)


def docker_available() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=5)
        client.ping()
        client.close()
        return True
    except Exception:
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.docker)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def installation() -> str:
    """A unique installation id per test: its containers and images are found by label."""
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def settings(home: Path, installation: str) -> Settings:
    return Settings(
        home=home,
        installation=installation,
        allowed_schemes=frozenset({"https", "http"}),
        allowed_networks=LOOPBACK,
        health_timeout=20.0,
        health_interval=0.2,
        build_timeout=300.0,
    )


@pytest.fixture
def env(home: Path, installation: str) -> Iterator[dict[str, str]]:
    """Environment for CLI subprocesses that use the same state and installation."""
    yield {
        **os.environ,
        "MACHETE_HOME": str(home),
        "MACHETE_INSTALLATION": installation,
        "MACHETE_ALLOWED_SCHEMES": "https,http",
        "MACHETE_ALLOWED_NETWORKS": ",".join(LOOPBACK),
        "MACHETE_HEALTH_TIMEOUT": "20",
        "MACHETE_HEALTH_INTERVAL": "0.2",
    }
