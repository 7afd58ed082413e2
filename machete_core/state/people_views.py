"""Frozen views of the people tables (no session ever leaks, no secret is ever in a repr)."""

from __future__ import annotations

import attrs


@attrs.frozen
class UserRecord:
    id: int
    name: str
    kind: str
    role: str
    password_hash: str | None = attrs.field(repr=False)
    totp_secret: str | None = attrs.field(repr=False)
    totp_enabled: bool
    disabled: bool
    created_at: float
    updated_at: float
    totp_last_step: int | None = None


@attrs.frozen
class TeamRecord:
    id: int
    name: str
    created_at: float
    members: tuple[str, ...] = ()


@attrs.frozen
class GrantRecord:
    tool: str
    subject_kind: str
    subject: str
    role: str
    granted_by: str
    created_at: float


@attrs.frozen
class TokenRecord:
    id: int
    public_id: str
    kind: str
    user_id: int
    user: str
    name: str
    secret_hash: str = attrs.field(repr=False)
    scopes: tuple[str, ...]
    tools: tuple[str, ...]
    last_four: str
    created_by: str
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    last_used_at: float | None
    last_used_from: str | None


@attrs.frozen
class SessionRecord:
    id_hash: str = attrs.field(repr=False)
    user_id: int
    origin: str
    tool: str | None
    restricted: bool
    address: str | None
    created_at: float
    last_seen_at: float
    expires_at: float


@attrs.frozen
class AuditRecord:
    id: int
    at: float
    actor_kind: str
    actor_id: str
    actor_name: str
    token_id: str | None
    address: str | None
    request_id: str | None
    action: str
    target: str | None
    tool: str | None
    outcome: str
    reason: str | None


def user_summary(user: UserRecord) -> dict[str, object]:
    """What hosts show of a user (never the password hash or the TOTP secret)."""
    return {
        "name": user.name,
        "kind": user.kind,
        "role": user.role,
        "disabled": user.disabled,
        "totp_enabled": user.totp_enabled,
        "created_at": user.created_at,
    }


def token_summary(token: TokenRecord) -> dict[str, object]:
    """What hosts show of a token: its id, last four characters and rights, never its secret
    or the secret's hash; ``prefix`` is how the token's text begins, which a person recognises."""
    code = {"personal": "pat", "service": "sat"}.get(token.kind, token.kind)
    return {
        "id": token.public_id,
        "prefix": f"mch_{code}_{token.public_id}_",
        "kind": token.kind,
        "user": token.user,
        "name": token.name,
        "last_four": token.last_four,
        "scopes": list(token.scopes),
        "tools": list(token.tools),
        "created_by": token.created_by,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "revoked_at": token.revoked_at,
        "last_used_at": token.last_used_at,
        "last_used_from": token.last_used_from,
    }


@attrs.frozen
class DeviceLoginRecord:
    id: int
    user_code: str
    label: str
    requested_from: str | None
    created_at: float
    expires_at: float
    #: ``pending``, ``approved``, ``denied`` or ``used``.
    state: str
    user_id: int | None
    last_poll_at: float | None
