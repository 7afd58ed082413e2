"""Tables. Times are UNIX seconds (floats): portable across SQLite and PostgreSQL, no tz traps."""

from __future__ import annotations

from sqlalchemy import Boolean, Float, ForeignKey, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ToolRow(Base):
    __tablename__ = "tools"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    source_kind: Mapped[str] = mapped_column(String(32))
    source_url: Mapped[str] = mapped_column(Text)
    source_ref: Mapped[str | None] = mapped_column(String(255))
    #: Sealed with the installation's secret key (machete_core.secrets); never in clear.
    source_credentials: Mapped[str | None] = mapped_column(Text)
    builder: Mapped[str | None] = mapped_column(String(64))
    runtime: Mapped[str | None] = mapped_column(String(64))
    spec_json: Mapped[str] = mapped_column(Text, default="{}")
    #: Set by ``machete scale``; wins over the manifest's ``machete.replicas``.
    replicas: Mapped[int | None] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    auto_start: Mapped[bool] = mapped_column(Boolean, default=True)
    #: What the last operation left: pending, building, running, stopped, failed.
    status: Mapped[str] = mapped_column(String(16), default="pending")
    status_reason: Mapped[str | None] = mapped_column(Text)
    health_timeout: Mapped[float | None] = mapped_column(Float)
    #: Bumped on every configuration change; part of the release key.
    config_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: ToolOverrides as JSON: what an operator set, applied on every deploy.
    overrides_json: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")
    current_release_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class ReleaseRow(Base):
    __tablename__ = "releases"
    __table_args__ = (UniqueConstraint("tool_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tool_id: Mapped[int] = mapped_column(ForeignKey("tools.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(64), index=True)
    #: Source, spec and builder only: releases that differ only in configuration share an image.
    image_key: Mapped[str | None] = mapped_column(String(64))
    commit: Mapped[str | None] = mapped_column(String(64))
    digest: Mapped[str | None] = mapped_column(String(80))
    ref: Mapped[str | None] = mapped_column(String(255))
    spec_json: Mapped[str] = mapped_column(Text, default="{}")
    builder: Mapped[str] = mapped_column(String(64))
    runtime: Mapped[str] = mapped_column(String(64))
    image_id: Mapped[str | None] = mapped_column(String(128))
    image_tag: Mapped[str | None] = mapped_column(String(255))
    instance_id: Mapped[str | None] = mapped_column(String(128))
    instance_name: Mapped[str | None] = mapped_column(String(255))
    #: building, built, starting, live, failed, retired.
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    #: The instance's last log lines, kept when it is retired or fails.
    logs_tail: Mapped[str | None] = mapped_column(Text)
    operation_id: Mapped[str | None] = mapped_column(String(32))
    trigger: Mapped[str] = mapped_column(String(64), default="api")
    created_at: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float)


class ConfigRow(Base):
    __tablename__ = "tool_config"

    tool_id: Mapped[int] = mapped_column(
        ForeignKey("tools.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    #: Plain text, or sealed with the installation's key when ``secret``.
    value: Mapped[str] = mapped_column(Text)
    secret: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[float] = mapped_column(Float)


class HealthEventRow(Base):
    __tablename__ = "health_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tool_id: Mapped[int] = mapped_column(ForeignKey("tools.id", ondelete="CASCADE"), index=True)
    at: Mapped[float] = mapped_column(Float)
    #: healthy or unhealthy.
    health: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)


class OperationRow(Base):
    __tablename__ = "operations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    tool_id: Mapped[int | None] = mapped_column(Integer, index=True)
    tool_name: Mapped[str | None] = mapped_column(String(64), index=True)
    #: pending, running, succeeded, failed, cancelled.
    status: Mapped[str] = mapped_column(String(16))
    params_json: Mapped[str] = mapped_column(Text, default="{}")
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    log_path: Mapped[str] = mapped_column(Text)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(128))
    actor_name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float)
    #: ``host:pid`` of the process that runs it; it renews the lease while it works.
    holder: Mapped[str | None] = mapped_column(String(128))
    #: Past this time (with no renewal) the holder is taken for dead and the operation ended.
    lease_expires_at: Mapped[float | None] = mapped_column(Float)
    #: Set by any process; the holder sees it at its next heartbeat and stops.
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")


class StepRow(Base):
    __tablename__ = "operation_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    operation_id: Mapped[str] = mapped_column(
        ForeignKey("operations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(32))
    #: running, done, failed, skipped.
    status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float)


class EventRow(Base):
    """Lifecycle events of every process on this state, for the hosts' event streams."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(64))
    tool: Mapped[str | None] = mapped_column(String(64))
    operation_id: Mapped[str | None] = mapped_column(String(32))
    data_json: Mapped[str] = mapped_column(Text, default="{}")
    actor_kind: Mapped[str] = mapped_column(String(16), default="system")
    actor_id: Mapped[str] = mapped_column(String(128), default="machete")
    actor_name: Mapped[str] = mapped_column(String(255), default="MACHETE")


class LockRow(Base):
    """A named lock held until ``expires_at`` unless its holder renews it."""

    __tablename__ = "locks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[float] = mapped_column(Float)
