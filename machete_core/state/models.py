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
    #: Who may open the tool: ``public``, ``members`` (signed-in people) or ``granted``.
    access: Mapped[str] = mapped_column(String(16), default="members", server_default="members")
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
    #: Who set the value last (an actor's ``kind:name``); None before migration 0013.
    updated_by: Mapped[str | None] = mapped_column(String(255), nullable=True)


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
    #: The request that asked for it (its ``X-Request-ID``), when one did.
    request_id: Mapped[str | None] = mapped_column(String(128))


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
    operation_id: Mapped[str | None] = mapped_column(String(32), index=True)
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


# People and what they may do: users (and service accounts), teams, per-tool grants, API
# tokens, sessions, sign-in failures and the audit log.


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    #: ``person`` (signs in with a password) or ``service`` (a service account: tokens only).
    kind: Mapped[str] = mapped_column(String(16), default="person")
    role: Mapped[str] = mapped_column(String(16))
    #: An argon2id hash (PHC string); None for service accounts.
    password_hash: Mapped[str | None] = mapped_column(Text)
    #: The TOTP secret, sealed with the installation's key; enabled once a code confirmed it.
    totp_secret: Mapped[str | None] = mapped_column(Text)
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The last 30-second step whose code was accepted: a code is good once.
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class TeamRow(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[float] = mapped_column(Float)


class TeamMemberRow(Base):
    __tablename__ = "team_members"

    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class GrantRow(Base):
    """A user's or a team's role on one tool (at most maintainer); goes with the tool."""

    __tablename__ = "grants"
    __table_args__ = (UniqueConstraint("tool_id", "subject_kind", "subject_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tool_id: Mapped[int] = mapped_column(ForeignKey("tools.id", ondelete="CASCADE"), index=True)
    #: ``user`` or ``team``.
    subject_kind: Mapped[str] = mapped_column(String(8))
    subject_id: Mapped[int] = mapped_column(Integer, index=True)
    role: Mapped[str] = mapped_column(String(16))
    granted_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[float] = mapped_column(Float)


class TokenRow(Base):
    """An API token: only a SHA-256 of its secret is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    #: ``personal``, ``service`` or ``cli``.
    kind: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[str] = mapped_column(String(64))
    #: The scopes, space-separated.
    scopes: Mapped[str] = mapped_column(Text)
    #: The tools it is restricted to, space-separated; empty: not restricted.
    tools: Mapped[str] = mapped_column(Text, default="")
    last_four: Mapped[str] = mapped_column(String(4))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float | None] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float)
    last_used_at: Mapped[float | None] = mapped_column(Float)
    last_used_from: Mapped[str | None] = mapped_column(String(64))


class SessionRow(Base):
    """A signed-in browser (``api`` origin or a tool's origin) or a one-time ``ticket`` that
    carries a session to the tools' origin. Only a SHA-256 of the cookie value is kept."""

    __tablename__ = "sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    origin: Mapped[str] = mapped_column(String(16))
    #: The tool a ticket or a tools-origin session is for (None: the API origin).
    tool: Mapped[str | None] = mapped_column(String(64))
    #: Signed in but must still enrol a second factor: only the enrolment routes answer.
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    address: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    last_seen_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)


class LoginAttemptRow(Base):
    """A failed sign-in, by name and by address: shared by every server on the database."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), index=True)
    at: Mapped[float] = mapped_column(Float)


class AuditRow(Base):
    """Append-only: who did (or was refused) what, from where, and how it ended."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float, index=True)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(64))
    actor_name: Mapped[str] = mapped_column(String(100))
    token_id: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(200))
    tool: Mapped[str | None] = mapped_column(String(64), index=True)
    #: ``ok``, ``failed`` or ``denied``.
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)


class DeviceLoginRow(Base):
    """A ``machete login --device`` waiting for a person to approve its code (RFC 8628 style):
    only a SHA-256 of the device code is kept; the user code is short-lived and single-use."""

    __tablename__ = "device_logins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_code: Mapped[str] = mapped_column(String(16), unique=True)
    label: Mapped[str] = mapped_column(String(100))
    requested_from: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    #: ``pending``, ``approved``, ``denied`` or ``used``.
    state: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True
    )
    last_poll_at: Mapped[float | None] = mapped_column(Float)


class DeployTriggerRow(Base):
    """What deploys a tool besides a person: its push webhook and its polling (one row per
    tool, made when either is first set)."""

    __tablename__ = "deploy_triggers"

    tool_id: Mapped[int] = mapped_column(
        ForeignKey("tools.id", ondelete="CASCADE"), primary_key=True
    )
    #: The public id in ``/api/hooks/<hook_id>`` (random; not a secret).
    hook_id: Mapped[str] = mapped_column(String(64), unique=True)
    hook_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The HMAC secret, sealed; the previous one stays good until ``previous_until``.
    secret_sealed: Mapped[str | None] = mapped_column(Text)
    previous_sealed: Mapped[str | None] = mapped_column(Text)
    previous_until: Mapped[float | None] = mapped_column(Float)
    #: Seconds between polls of the source; None: no polling.
    poll_seconds: Mapped[int | None] = mapped_column(Integer)
    polled_at: Mapped[float | None] = mapped_column(Float)
    #: The revision the last poll deployed (not deployed twice, even when that deploy failed).
    polled_revision: Mapped[str | None] = mapped_column(String(255))
    #: A push came while the tool was busy: one deploy runs when it is free.
    deploy_queued: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class HookDeliveryRow(Base):
    """Every webhook delivery and what came of it."""

    __tablename__ = "hook_deliveries"
    __table_args__ = (UniqueConstraint("tool_id", "delivery_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tool_id: Mapped[int] = mapped_column(ForeignKey("tools.id", ondelete="CASCADE"), index=True)
    at: Mapped[float] = mapped_column(Float)
    provider: Mapped[str] = mapped_column(String(16))
    #: The provider's delivery id (None when it sends none, or the signature was bad).
    delivery_id: Mapped[str | None] = mapped_column(String(100))
    event: Mapped[str] = mapped_column(String(64))
    ref: Mapped[str | None] = mapped_column(String(255))
    #: deployed, queued, coalesced, duplicate, ignored, ping, bad_signature.
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    operation_id: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(64))


class NotifyChannelRow(Base):
    """Where notifications go: an instance channel (an admin's), or one a maintainer
    subscribed for one tool (``tool_id``)."""

    __tablename__ = "notify_channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    #: webhook, slack, discord or email.
    kind: Mapped[str] = mapped_column(String(16))
    #: The URL or address, sealed: a Slack or Discord URL is itself a credential.
    target_sealed: Mapped[str] = mapped_column(Text)
    #: What listings show of the target (scheme and host of a URL, or the address).
    target_hint: Mapped[str] = mapped_column(String(255))
    #: A Standard Webhooks signing secret (``whsec_...``), sealed; webhook channels only.
    secret_sealed: Mapped[str | None] = mapped_column(Text)
    #: Notification types it takes and tools it is about (empty: all).
    events_json: Mapped[str] = mapped_column(Text, default="[]")
    tools_json: Mapped[str] = mapped_column(Text, default="[]")
    tool_id: Mapped[int | None] = mapped_column(
        ForeignKey("tools.id", ondelete="CASCADE"), index=True
    )
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(255))


class NotifyOutboxRow(Base):
    """One notification for one channel, written with the event it tells of (one
    transaction) and sent afterwards, with retries."""

    __tablename__ = "notify_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("notify_channels.id", ondelete="CASCADE"), index=True
    )
    #: deploy.succeeded, deploy.failed, ... (machete_core.notify.kinds.NOTICES).
    kind: Mapped[str] = mapped_column(String(32))
    tool: Mapped[str | None] = mapped_column(String(64))
    payload_json: Mapped[str] = mapped_column(Text)
    #: Notifications with one key for one channel are sent once per window (repeats).
    dedupe_key: Mapped[str | None] = mapped_column(String(200), index=True)
    #: pending, sent or failed (gave up).
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float)
    #: A sender took it until then (another server leaves it alone meanwhile).
    claimed_until: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float)
    sent_at: Mapped[float | None] = mapped_column(Float)
    last_error: Mapped[str | None] = mapped_column(Text)


class NotifyAttemptRow(Base):
    """Every attempt to send a notification and what came of it."""

    __tablename__ = "notify_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    outbox_id: Mapped[int] = mapped_column(
        ForeignKey("notify_outbox.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[float] = mapped_column(Float)
    ok: Mapped[bool] = mapped_column(Boolean)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    seconds: Mapped[float] = mapped_column(Float)


class ToolDomainRow(Base):
    """A host name an ingress routes whole to one tool (besides ``<tool>.<tools_domain>``)."""

    __tablename__ = "tool_domains"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: Lower case, without a trailing dot; unique across tools.
    name: Mapped[str] = mapped_column(String(253), unique=True)
    tool_id: Mapped[int] = mapped_column(ForeignKey("tools.id", ondelete="CASCADE"), index=True)
    #: ``internal``, ``acme`` or ``auto`` (routes.TLS_MODES).
    tls: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(255))
