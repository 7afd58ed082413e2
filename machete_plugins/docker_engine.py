"""Shared access to the Docker Engine API (docker SDK), imported only when a provider is used."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from typing import Any

from machete_core.errors import EngineUnavailableError, RuntimeProviderError


def client() -> Any:
    """A docker client from the environment (``DOCKER_HOST`` or the local socket)."""
    import docker

    try:
        return docker.from_env(timeout=120)
    except docker.errors.DockerException as exc:
        raise EngineUnavailableError(f"cannot reach the Docker engine: {exc}") from None


def availability() -> str | None:
    """None when the engine answers a ping, else why not."""
    try:
        c = client()
        try:
            c.ping()
        finally:
            c.close()
    except EngineUnavailableError as exc:
        return exc.message
    except Exception as exc:
        return f"cannot reach the Docker engine: {exc}"
    return None


def engine_errors(action: str) -> Any:
    """Decorator turning docker SDK and connection errors into MACHETE errors."""

    def wrap(fn: Any) -> Any:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            import docker
            import requests

            try:
                return fn(*args, **kwargs)
            except requests.exceptions.ConnectionError as exc:
                raise EngineUnavailableError(f"cannot reach the Docker engine: {exc}") from None
            except docker.errors.APIError as exc:
                detail = exc.explanation or str(exc)
                raise RuntimeProviderError(f"{action} failed: {detail}") from None

        return inner

    return wrap


class EngineClient:
    """A provider's engine connection: opened on first use, closed with the provider."""

    _client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = client()
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def log_lines(stream: Iterable[bytes]) -> Iterator[str]:
    """Lines of a log stream that arrives in chunks cut anywhere."""
    pending = b""
    for chunk in stream:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.decode("utf-8", errors="replace")
    if pending:
        yield pending.decode("utf-8", errors="replace")
