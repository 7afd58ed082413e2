"""HTTP health checks: GET the tool's health path until it answers 2xx, or, for a tool that
declares no path, until its port answers HTTP with anything but a 5xx (the connect check).

The gate stops early, with the fix in its message, when the outcome cannot change: the
instance exited, the health path keeps answering 404, or the port is refused while the
process listens on another one."""

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
    #: The port refused (or reset) the connection: nothing listens there.
    refused: bool = False


@attrs.frozen
class FailFast:
    """When the gate gives up before its timeout (the outcome cannot change)."""

    #: The ports the instance's processes listen on now, or None where that cannot be read.
    listening: Callable[[], set[int] | None] | None = None
    #: A 404 on the health path for this long means the path does not exist.
    not_found_grace: float = 10.0
    #: Refused connections for this long, while the process listens on other ports.
    wrong_port_grace: float = 3.0


def healthy_status(path: str | None, status: int) -> bool:
    """A declared health path must answer 2xx; the connect check takes anything but a 5xx."""
    return status < 500 if path is None else 200 <= status < 300


def describe(path: str | None) -> str:
    """How a health check is said in messages."""
    return f"GET {path}" if path else "an HTTP answer on its port"


def probe(endpoint: Endpoint, path: str | None, timeout: float = 5.0) -> Probe:
    """One GET (of ``path``, or of ``/`` for the connect check); never raises. Uses
    http.client directly so proxy variables never apply."""
    started = time.monotonic()
    conn = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=timeout)
    try:
        conn.request("GET", path or "/", headers={"User-Agent": "machete-health"})
        resp = conn.getresponse()
        resp.read(64 * 1024)
        healthy = healthy_status(path, resp.status)
        return Probe(
            healthy=healthy,
            status_code=resp.status,
            error=None if healthy else f"HTTP {resp.status}",
            elapsed=time.monotonic() - started,
        )
    except (OSError, http.client.HTTPException) as exc:
        return Probe(
            healthy=False,
            error=f"{type(exc).__name__}: {exc}".strip(": "),
            elapsed=time.monotonic() - started,
            refused=isinstance(exc, ConnectionRefusedError | ConnectionResetError),
        )
    finally:
        conn.close()


def wait_healthy(
    endpoint: Callable[[], Endpoint],
    path: str | None,
    *,
    timeout: float,
    interval: float,
    cancel: CancelToken | None = None,
    still_running: Callable[[], str | None] | None = None,
    fail_fast: FailFast | None = None,
    port: int | None = None,
    probe_timeout: float = 5.0,
) -> Probe:
    """Poll until healthy; raise :class:`HealthCheckError` on timeout, or as soon as the
    outcome cannot change.

    ``still_running()`` returns None while the instance lives, or why it stopped, so a crashed
    instance fails the gate at once instead of after the whole timeout. ``fail_fast`` gives up
    on a health path that keeps answering 404, and on a ``port`` that refuses connections while
    the process listens on others.
    """
    fast = fail_fast or FailFast()
    started = time.monotonic()
    deadline = started + timeout
    last: Probe | None = None
    not_found_since: float | None = None
    refused_since: float | None = None
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
            left = deadline - time.monotonic()
            last = probe(target, path, timeout=min(probe_timeout, max(0.5, left)))
            if last.healthy:
                return last
        now = time.monotonic()
        not_found_since = (not_found_since or now) if last.status_code == 404 else None
        if not_found_since is not None and now - not_found_since >= fast.not_found_grace:
            raise HealthCheckError(
                f"{path} answered 404 for {fast.not_found_grace:g} s: the tool has no such "
                "path. Set --health-path PATH (or none, for any answer on the port) or "
                "machete.health_check",
                details={"status_code": 404, "fix": "health_path"},
            )
        refused_since = (refused_since or now) if last.refused else None
        if refused_since is not None and now - refused_since >= fast.wrong_port_grace:
            _fail_on_wrong_port(fast, port)
        if now >= deadline:
            raise HealthCheckError(
                f"no healthy answer ({describe(path)}) within {timeout:g}s (last: {last.error})",
                details={"last_error": last.error, "status_code": last.status_code},
            )
        # Start polling fast (most tools listen within milliseconds), back off to ``interval``.
        attempt += 1
        time.sleep(min(interval, 0.02 * 2**attempt))


def _fail_on_wrong_port(fast: FailFast, port: int | None) -> None:
    """Refused on ``port``: if the instance listens on other ports, it never will on this one."""
    if fast.listening is None or port is None:
        return
    ports = fast.listening()
    if not ports or port in ports:
        return  # cannot tell, or it is about to answer
    chosen = min(ports)
    others = ", ".join(str(p) for p in sorted(ports))
    raise HealthCheckError(
        f"the tool listens on {others}, not {port}: pass --port {chosen} or set machete.port",
        details={"listening": sorted(ports), "port": port, "fix": "port"},
    )


def wait_replicas_healthy(
    endpoints: Callable[[], list[Endpoint]],
    replicas: int,
    path: str | None,
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
                f"not all {replicas} replicas answered {describe(path)} healthily within "
                f"{timeout:g}s (last: {problem})"
            )
        time.sleep(interval)
