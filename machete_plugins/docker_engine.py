"""Shared access to the Docker Engine API (docker SDK), imported only when a provider is used."""

from __future__ import annotations

import functools
import re
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


#: threats.md: runc >= 1.1.12 (CVE-2024-21626) and BuildKit >= 0.12.5 (CVE-2024-23651..3),
#: first shipped together in Docker Engine 25.0.2, whose BuildKit is not reported on its own.
RUNC_FLOOR = (1, 1, 12)
ENGINE_FLOOR = (25, 0, 2)


class EngineBelowFloorError(RuntimeProviderError):
    code = "engine_below_floor"
    http_status = 409


def version_tuple(text: str) -> tuple[int, ...]:
    """``1.1.5-0ubuntu1`` -> (1, 1, 5); ``v20.10.24+dfsg1`` -> (20, 10, 24)."""
    numbers = re.findall(r"\d+", text.lstrip("v").split("-")[0].split("+")[0])
    return tuple(int(n) for n in numbers[:3])


def floor_problems(version: dict[str, Any]) -> list[str]:
    """What is below the floors in an engine's ``/version`` answer."""
    problems = []
    engine = str(version.get("Version", ""))
    if version_tuple(engine) < ENGINE_FLOOR:
        problems.append(
            f"Docker Engine {engine} bundles a BuildKit below 0.12.5 (floor: Engine 25.0.2)"
        )
    for component in version.get("Components") or []:
        if str(component.get("Name", "")).lower() == "runc":
            runc = str(component.get("Version", ""))
            if version_tuple(runc) < RUNC_FLOOR:
                problems.append(f"runc {runc} is below 1.1.12")
    return problems


def check_floors(settings: Any, api: Any) -> None:
    """Refuse to build on an engine below the floors unless an admin accepted it."""
    if settings.accept_engine_below_floor:
        return
    problems = floor_problems(api.version())
    if problems:
        raise EngineBelowFloorError(
            "refusing to build: " + "; ".join(problems) + ". Upgrade the engine, or have an "
            "admin accept the risk with MACHETE_ACCEPT_ENGINE_BELOW_FLOOR=true"
        )


def used_subnets(client: Any) -> list[Any]:
    """Every IPv4 subnet the engine's networks hold now."""
    import ipaddress

    found = []
    for network in client.api.networks():
        for config in (network.get("IPAM") or {}).get("Config") or []:
            try:
                found.append(ipaddress.ip_network(config.get("Subnet", ""), strict=False))
            except ValueError:
                continue
    return found


def create_network(
    client: Any, name: str, labels: dict[str, str], settings: Any, **extra: Any
) -> None:
    """A bridge network with a small subnet of its own from ``MACHETE_NETWORK_POOL``: the
    engine's default pools run out at about 30 networks. A subnet taken meanwhile by a
    concurrent deploy makes the engine refuse; the next free one is tried."""
    import ipaddress

    import docker

    pool = ipaddress.ip_network(settings.network_pool, strict=False)
    prefix = max(pool.prefixlen, min(int(settings.network_prefix), 29))
    taken = used_subnets(client)
    for subnet in pool.subnets(new_prefix=prefix):
        if any(subnet.overlaps(t) for t in taken):
            continue
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=str(subnet))])
        try:
            client.networks.create(name, driver="bridge", labels=labels, ipam=ipam, **extra)
            return
        except docker.errors.APIError as exc:
            if exc.status_code == 409:
                return  # made meanwhile under this name by a concurrent deploy
            if "overlap" in str(exc).lower():
                taken.append(subnet)
                continue
            raise
    raise RuntimeProviderError(
        f"no free /{prefix} subnet is left in MACHETE_NETWORK_POOL={settings.network_pool}: "
        "remove tools or give a larger pool"
    )


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
