"""HTTP health checks: GET the manifest's path until it answers 200."""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable

import attrs

from machete_core.domain.records import CancelToken, Endpoint
from machete_core.errors import HealthCheckError


@attrs.frozen
class Probe:
    healthy: bool
    status_code: int | None = None
    error: str | None = None
    elapsed: float = 0.0


def probe(endpoint: Endpoint, path: str, timeout: float = 5.0) -> Probe:
    """One GET; never raises. Uses http.client directly so proxy variables never apply."""
    started = time.monotonic()
    conn = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"User-Agent": "machete-health"})
        resp = conn.getresponse()
        resp.read(64 * 1024)
        return Probe(
            healthy=resp.status == 200,
            status_code=resp.status,
            error=None if resp.status == 200 else f"HTTP {resp.status}",
            elapsed=time.monotonic() - started,
        )
    except (OSError, http.client.HTTPException) as exc:
        return Probe(
            healthy=False,
            error=f"{type(exc).__name__}: {exc}".strip(": "),
            elapsed=time.monotonic() - started,
        )
    finally:
        conn.close()


def wait_healthy(
    endpoint: Callable[[], Endpoint],
    path: str,
    *,
    timeout: float,
    interval: float,
    cancel: CancelToken | None = None,
    still_running: Callable[[], str | None] | None = None,
    log: Callable[[str], None] | None = None,
) -> Probe:
    """Poll until HTTP 200; raise :class:`HealthCheckError` on timeout or if the instance dies.

    ``still_running()`` returns None while the instance lives, or why it stopped, so a crashed
    instance fails the gate at once instead of after the whole timeout.
    """
    deadline = time.monotonic() + timeout
    last: Probe | None = None
    attempt = 0
    while True:
        if cancel is not None:
            cancel.raise_if_cancelled()
        if still_running is not None:
            dead = still_running()
            if dead:
                raise HealthCheckError(f"the instance stopped before it became healthy: {dead}")
        try:
            target = endpoint()
        except Exception as exc:
            last = Probe(healthy=False, error=str(exc))
        else:
            last = probe(target, path, timeout=min(5.0, max(0.5, deadline - time.monotonic())))
            if last.healthy:
                return last
        if time.monotonic() >= deadline:
            raise HealthCheckError(
                f"no HTTP 200 from {path} within {timeout:g}s (last: {last.error})",
                details={"last_error": last.error, "status_code": last.status_code},
            )
        # Start polling fast (most tools listen within milliseconds), back off to ``interval``.
        attempt += 1
        time.sleep(min(interval, 0.02 * 2**attempt))


def wait_replicas_healthy(
    endpoints: Callable[[], list[Endpoint]],
    replicas: int,
    path: str,
    *,
    timeout: float,
    interval: float,
    cancel: CancelToken | None = None,
    still_running: Callable[[], str | None] | None = None,
) -> list[Probe]:
    """Poll until ``replicas`` replicas run and every one answers HTTP 200 (one check per
    replica, so a half-healthy set never passes the gate). ``still_running`` as for
    :func:`wait_healthy`."""
    deadline = time.monotonic() + timeout
    problem = "no replica is running yet"
    while True:
        if cancel is not None:
            cancel.raise_if_cancelled()
        if still_running is not None:
            dead = still_running()
            if dead:
                raise HealthCheckError(f"a replica stopped before it became healthy: {dead}")
        try:
            found = endpoints()
        except Exception as exc:
            found, problem = [], str(exc)
        if len(found) >= replicas:
            probes = [probe(e, path, timeout=3.0) for e in found]
            sick = [p for p in probes if not p.healthy]
            if not sick:
                return probes
            problem = f"{len(sick)} of {len(found)} replicas unhealthy ({sick[0].error})"
        elif found:
            problem = f"{len(found)} of {replicas} replicas running"
        if time.monotonic() >= deadline:
            raise HealthCheckError(
                f"not all {replicas} replicas answered {path} with HTTP 200 within "
                f"{timeout:g}s (last: {problem})"
            )
        time.sleep(interval)
