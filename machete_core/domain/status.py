"""The status vocabulary users see (kept from the original: pending, building, running, ...)."""

from __future__ import annotations

from enum import StrEnum


class ToolStatus(StrEnum):
    PENDING = "pending"
    BUILDING = "building"
    RUNNING = "running"
    STOPPED = "stopped"
    FAILED = "failed"
    #: It keeps exiting and the engine keeps restarting it (with growing pauses).
    CRASH_LOOPING = "crash-looping"
    UNKNOWN = "unknown"


#: Restarts after which an instance that has not stayed up for STABLE_SECONDS is looping.
LOOP_RESTARTS = 3
STABLE_SECONDS = 300.0


def crash_loop_reason(
    state: str, restart_count: int, started_at: str | None, now: float
) -> str | None:
    """Why an instance counts as crash-looping, or None. One that restarted often but has
    stayed up for five minutes since is running again; a moment of "running" between two
    crashes is not (so the status does not flap between running and failed)."""
    if restart_count < LOOP_RESTARTS or state not in ("running", "restarting", "stopped"):
        return None
    up_for = _seconds_since(started_at, now)
    if state == "running" and up_for is not None and up_for >= STABLE_SECONDS:
        return None
    # The engine doubles its pause before each restart, from 100 ms, up to a minute.
    pause = min(60.0, 0.1 * 2 ** min(restart_count, 10))
    return (
        f"restarted {restart_count} times; the engine now waits about {pause:.0f} s before each "
        "restart (doubling, up to a minute). See machete logs for why it exits"
    )


def _seconds_since(stamp: str | None, now: float) -> float | None:
    import calendar
    import time

    if not stamp or stamp.startswith("0001-"):
        return None
    try:
        started = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None
    return now - started


class Health(StrEnum):
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


class OperationStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ReleaseStatus(StrEnum):
    BUILDING = "building"
    BUILT = "built"
    STARTING = "starting"
    LIVE = "live"
    FAILED = "failed"
    RETIRED = "retired"
