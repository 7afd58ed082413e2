"""The status vocabulary users see (kept from the original: pending, building, running, ...)."""

from __future__ import annotations

from enum import StrEnum


class ToolStatus(StrEnum):
    PENDING = "pending"
    BUILDING = "building"
    RUNNING = "running"
    STOPPED = "stopped"
    FAILED = "failed"
    UNKNOWN = "unknown"


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
