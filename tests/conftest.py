"""Shared fixtures. Unit tests need no daemon; ``docker``-marked tests use the real engine."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from machete_core.access import passwords
from machete_core.settings import Settings
from tests.support.postgres import PostgresServer

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

#: ``MACHETE_TEST_DATABASE=postgresql`` runs the tests that use the ``settings``/``env``
#: fixtures on a fresh PostgreSQL database each (instead of SQLite in the test's home).
TEST_DATABASE = os.environ.get("MACHETE_TEST_DATABASE", "sqlite")


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


#: A cheap argon2id profile for the suite's many sign-ins (the real profile is the default;
#: tests marked ``real_argon2`` keep it, e.g. the rehash-on-parameter-change test).
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(autouse=True)
def _cheap_password_hashing(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if request.node.get_closest_marker("real_argon2") is None:
        monkeypatch.setattr(passwords, "_hasher", CHEAP_HASHER)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def installation() -> str:
    """A unique installation id per test: its containers and images are found by label."""
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session, on loopback (databases are made per test)."""
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each backend in turn: for tests of the store itself."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.new_database()


@pytest.fixture
def state_database_url(request: pytest.FixtureRequest) -> str:
    """The database of the ``settings``/``env`` fixtures: "" (SQLite in home) or PostgreSQL."""
    if TEST_DATABASE == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres")
        return server.new_database()
    return ""


@pytest.fixture
def settings(home: Path, installation: str, state_database_url: str) -> Settings:
    return Settings(
        home=home,
        installation=installation,
        database_url=state_database_url,
        allowed_schemes=frozenset({"https", "http"}),
        allowed_networks=LOOPBACK,
        health_timeout=20.0,
        health_interval=0.2,
        build_timeout=300.0,
        # This machine's engine (Docker 20.10) is below the runc/BuildKit floors; the suite
        # accepts it explicitly, and test_engine_floors shows the refusal without it.
        accept_engine_below_floor=True,
    )


@pytest.fixture
def env(home: Path, installation: str, settings: Settings) -> Iterator[dict[str, str]]:
    """Environment for CLI subprocesses that use the same state and installation (on this
    state: no server of the developer's ``machete login`` or ``MACHETE_URL``)."""
    yield {
        **{k: v for k, v in os.environ.items() if k not in ("MACHETE_URL", "MACHETE_TOKEN")},
        "XDG_CONFIG_HOME": str(home.parent / "xdg-config"),
        "MACHETE_DATABASE_URL": settings.database_url,
        "MACHETE_HOME": str(home),
        "MACHETE_INSTALLATION": installation,
        "MACHETE_ALLOWED_SCHEMES": "https,http",
        "MACHETE_ALLOWED_NETWORKS": ",".join(LOOPBACK),
        "MACHETE_HEALTH_TIMEOUT": "20",
        "MACHETE_HEALTH_INTERVAL": "0.2",
        "MACHETE_ACCEPT_ENGINE_BELOW_FLOOR": "true",
    }
