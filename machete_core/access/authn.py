"""Who a request is: sign-in (password, optional TOTP) into database-backed sessions, API tokens,
one-time tickets that carry a session to the tools' origin, and the first owner's setup.

Every lookup reads the user's *current* role, teams and state, so a demotion, a disabled
account or a revoked token counts on the very next request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

import attrs
import pyotp

from machete_core.access import bootstrap, passwords, throttle, tokens
from machete_core.access.actions import SCOPES
from machete_core.access.audit import Auditor
from machete_core.access.principal import Principal, PrincipalKind, TokenGrant
from machete_core.access.roles import Role
from machete_core.domain.naming import is_valid_name
from machete_core.errors import (
    AuthenticationError,
    ForbiddenError,
    InvalidInputError,
    NameTakenError,
    SetupClosedError,
    TotpRequiredError,
)
from machete_core.events import EventBus
from machete_core.secrets import SecretBox
from machete_core.settings import Settings
from machete_core.state.people_views import TokenRecord, UserRecord
from machete_core.state.store import Store

#: A ticket to the tools' origin lives this long, and is used once.
TICKET_S = 60.0
#: A session's last-seen time is written at most this often (not on every request).
TOUCH_EVERY_S = 60.0
#: A token's last use is written at most this often.
TOKEN_TOUCH_EVERY_S = 60.0
#: A resolved principal is reused for at most this long, and never past a change of access
#: (see AccessSignals) or its token's or session's expiry.
CACHE_S = 5.0
CACHE_MAX = 10_000


class AccessSignals:
    """Says when anything a principal is made of changed (a role, a team, a disabled user, a
    revoked token, an ended session): cached principals are then dropped. Changes in this
    process bump the generation at once; they are also published as ``access.changed`` events,
    which servers on the same database follow (their event feed) to drop theirs."""

    def __init__(self, events: EventBus | None = None) -> None:
        self.generation = 0
        self._events = events

    def changed(self) -> None:
        self.generation += 1
        if self._events is not None:
            self._events.publish("access.changed")

    def heard(self) -> None:
        """Another process changed access (its ``access.changed`` event arrived)."""
        self.generation += 1


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@attrs.frozen
class SignedIn:
    #: The cookie value (shown to the browser once; only its hash is stored).
    session: str = attrs.field(repr=False)
    user: str
    role: str
    #: Must enrol a second factor before anything else (``MACHETE_REQUIRE_TOTP_FROM``).
    restricted: bool


class Authenticator:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        secrets_box: Callable[[], SecretBox],
        auditor: Auditor,
        clock: Callable[[], float] = time.time,
        signals: AccessSignals | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._secrets = secrets_box
        self._audit = auditor
        self.clock = clock
        self.signals = signals or AccessSignals()
        self._cache: dict[str, tuple[Principal, float, int]] = {}

    # -- the cache of resolved principals --------------------------------------------------

    def _cached(self, key: str) -> Principal | None:
        hit = self._cache.get(key)
        if hit is None:
            return None
        principal, until, generation = hit
        if generation != self.signals.generation or self.clock() >= until:
            self._cache.pop(key, None)
            return None
        return principal

    def _keep(self, key: str, principal: Principal, until: float, generation: int) -> None:
        if len(self._cache) >= CACHE_MAX:
            self._cache.clear()  # bounded memory; a flood of credentials only costs lookups
        self._cache[key] = (principal, min(until, self.clock() + CACHE_S), generation)

    def peek_token(self, text: str) -> Principal | None:
        """A recently resolved token's principal, without touching the database (or None)."""
        return self._cached("t:" + _hash(text))

    def peek_session(
        self, cookie: str, *, origin: str = "api", tool: str | None = None
    ) -> Principal | None:
        return self._cached(f"s:{origin}:{tool}:" + _hash(cookie))

    # -- principals ----------------------------------------------------------------------

    def _principal(self, user: UserRecord, **extra: object) -> Principal:
        kind = PrincipalKind.SERVICE if user.kind == "service" else PrincipalKind.USER
        return Principal(
            kind,
            user.name,
            user_id=user.id,
            role=Role.parse(user.role),
            team_ids=self._store.team_ids_of(user.id),
            **extra,  # type: ignore[arg-type]
        )

    def principal_for(self, name: str) -> Principal | None:
        """The principal of an existing, enabled user (for plugins that sign people in)."""
        user = self._store.find_user(name)
        if user is None or user.disabled:
            return None
        return self._principal(user)

    def from_session(
        self,
        cookie: str,
        *,
        origin: str = "api",
        tool: str | None = None,
        address: str | None = None,
    ) -> Principal | None:
        """The signed-in person of a session cookie, or None (unknown, expired, ended)."""
        if not cookie or len(cookie) > 200:
            return None
        key = f"s:{origin}:{tool}:" + _hash(cookie)
        cached = self._cached(key)
        if cached is not None:
            return cached
        generation = self.signals.generation
        id_hash = _hash(cookie)
        session = self._store.session(id_hash)
        now = self.clock()
        if session is None or session.origin != origin or session.tool != tool:
            return None
        if (
            now > session.expires_at
            or now > session.last_seen_at + self._settings.session_idle_seconds
        ):
            self._store.take_session(id_hash)
            return None
        user = self._store.user_by_id(session.user_id)
        if user is None or user.disabled:
            return None
        if now - session.last_seen_at > TOUCH_EVERY_S:
            self._store.touch_session(id_hash, now)
        principal = self._principal(
            user, session=id_hash, restricted=session.restricted, address=address
        )
        until = min(session.expires_at, now + self._settings.session_idle_seconds)
        self._keep(key, principal, until, generation)
        return principal

    def from_token(self, text: str, *, address: str | None = None) -> Principal:
        """The principal of an API token; ``unauthenticated`` for anything else."""
        parsed = tokens.parse(text)
        if parsed is None:
            raise AuthenticationError("that is not a valid MACHETE token")
        key = "t:" + _hash(text)
        cached = self._cached(key)
        if cached is not None:
            return cached
        generation = self.signals.generation
        row = self._store.token(parsed.public_id)
        now = self.clock()
        if row is None or not tokens.matches(row.secret_hash, parsed.secret):
            raise AuthenticationError("unknown token")
        if row.revoked_at is not None:
            raise AuthenticationError("this token has been revoked")
        if row.expires_at is not None and now > row.expires_at:
            raise AuthenticationError("this token has expired")
        user = self._store.user_by_id(row.user_id)
        if user is None or user.disabled:
            raise AuthenticationError("the token's account is disabled")
        if row.last_used_at is None or now - row.last_used_at > TOKEN_TOUCH_EVERY_S:
            self._store.token_used(row.public_id, now, address)
        grant = TokenGrant(row.public_id, row.kind, frozenset(row.scopes), frozenset(row.tools))
        principal = self._principal(user, token=grant, address=address)
        self._keep(key, principal, row.expires_at or now + CACHE_S, generation)
        return principal

    def still_valid(self, principal: Principal) -> bool:
        """Is this principal's session or token still good (long streams ask every beat)?"""
        if principal.trusted:
            return True
        if principal.token is not None:
            row = self._store.token(principal.token.public_id)
            if row is None or row.revoked_at is not None:
                return False
            if row.expires_at is not None and self.clock() > row.expires_at:
                return False
        elif principal.session is not None:
            session = self._store.session(principal.session)
            if session is None or self.clock() > session.expires_at:
                return False
        else:
            return False
        user = self._store.user_by_id(principal.user_id or -1)
        return user is not None and not user.disabled and Role.parse(user.role) == principal.role

    # -- sign-in -------------------------------------------------------------------------

    def login(
        self,
        name: str,
        password: str,
        *,
        totp: str | None = None,
        address: str | None = None,
        request_id: str | None = None,
        origin: str = "api",
    ) -> SignedIn:
        user = self._verify(name, password, totp, address, request_id)
        restricted = self._must_enrol(user)
        signed = self._new_session(user, origin=origin, address=address, restricted=restricted)
        self._audit.record(
            self._principal(user, address=address, request_id=request_id), "auth.login", target=name
        )
        return signed

    def cli_token(
        self,
        name: str,
        password: str,
        *,
        label: str,
        totp: str | None = None,
        address: str | None = None,
        request_id: str | None = None,
    ) -> tuple[str, TokenRecord]:
        """``machete login``: the same checks as a sign-in, answered with a CLI-kind token
        (every scope, so it acts with the person's role; it lasts ``token_default_days``; a
        password change, a reset, a demotion or disabling the account revokes it)."""
        user = self._verify(name, password, totp, address, request_id)
        return self.issue_cli_token(user, label, address=address, request_id=request_id)

    def issue_cli_token(
        self,
        user: UserRecord,
        label: str,
        *,
        address: str | None = None,
        request_id: str | None = None,
        action: str = "auth.cli_token",
    ) -> tuple[str, TokenRecord]:
        """A CLI-kind token for ``user``, who proved who they are (a password and second
        factor, or a signed-in person approving a device login)."""
        if self._must_enrol(user):
            raise ForbiddenError(
                "enrol a second factor first (sign in on the dashboard), then run machete login"
            )
        label = " ".join(label.split())[:100] or "machete CLI"
        made = tokens.new_token("cli")
        now = self.clock()
        record = self._store.add_token(
            public_id=made.public_id,
            kind="cli",
            user_id=user.id,
            name=label,
            secret_hash=made.secret_hash,
            scopes=tuple(sorted(SCOPES)),
            tools=(),
            last_four=made.last_four,
            created_by=user.name,
            created_at=now,
            expires_at=now + self._settings.token_default_days * 86400.0,
        )
        who = self._principal(user, address=address, request_id=request_id)
        self._audit.record(who, action, target=f"{user.name}:{record.public_id}")
        return made.text, record

    def revoke_own_token(self, principal: Principal) -> bool:
        """``machete logout``: a CLI-kind token revokes itself (a token given with ``machete
        login --with-token`` is a person's or a program's to revoke, so it is only forgotten)."""
        if principal.token is None or principal.token.kind != "cli":
            return False
        self._store.revoke_token(principal.token.public_id)
        self.signals.changed()
        self._audit.record(principal, "auth.logout", target=principal.token.public_id)
        return True

    def _verify(
        self,
        name: str,
        password: str,
        totp: str | None,
        address: str | None,
        request_id: str | None,
    ) -> UserRecord:
        """The person whose name, password (and second-factor code) these are; throttled and
        audited; a stale password hash is renewed."""
        now = self.clock()
        who = Principal(PrincipalKind.ANONYMOUS, name[:100], address=address, request_id=request_id)
        throttle.check(self._store, name, address, self._settings.login_free_attempts, now)
        user = self._store.find_user(name) if len(name) <= 64 else None
        stored = user.password_hash if user is not None and user.kind == "person" else None
        ok, rehash = passwords.verify_password(stored, password)
        if not ok or user is None or user.disabled:
            throttle.failed(self._store, name, address, now)
            self._audit.record(
                who,
                "auth.login",
                target=name[:100],
                outcome="denied",
                reason="wrong name or password",
            )
            raise AuthenticationError("wrong name or password")
        if user.totp_enabled:
            if not totp:
                raise TotpRequiredError("this account needs its second-factor code ('totp')")
            if not self._code_ok(user, totp):
                throttle.failed(self._store, name, address, now)
                self._audit.record(
                    who,
                    "auth.login",
                    target=name,
                    outcome="denied",
                    reason="wrong second-factor code",
                )
                raise TotpRequiredError("wrong second-factor code")
        throttle.succeeded(self._store, name)
        if rehash:
            self._store.update_user(user.id, password_hash=passwords.hash_password(password))
        return user

    def _must_enrol(self, user: UserRecord) -> bool:
        floor = self._settings.require_totp_from
        return bool(floor) and not user.totp_enabled and Role.parse(user.role) >= Role.parse(floor)

    def _new_session(
        self,
        user: UserRecord,
        *,
        origin: str,
        address: str | None,
        restricted: bool,
        tool: str | None = None,
    ) -> SignedIn:
        cookie = self._add_session(
            user.id, origin, tool, restricted, address, self._settings.session_max_seconds
        )
        return SignedIn(cookie, user.name, user.role, restricted)

    def _add_session(
        self,
        user_id: int,
        origin: str,
        tool: str | None,
        restricted: bool,
        address: str | None,
        lifetime: float,
    ) -> str:
        """Store a new session (or ticket) row; returns its secret (only the hash is kept)."""
        now = self.clock()
        secret = secrets.token_urlsafe(32)
        self._store.add_session(
            id_hash=_hash(secret),
            user_id=user_id,
            origin=origin,
            tool=tool,
            restricted=restricted,
            address=address,
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetime,
        )
        return secret

    def logout(self, principal: Principal) -> None:
        if principal.session is not None:
            self._store.take_session(principal.session)
            self.signals.changed()
            self._audit.record(principal, "auth.logout", target=principal.name)

    def rotate(self, principal: Principal) -> SignedIn | None:
        """A new session id for the same sign-in (after a privilege change)."""
        if principal.session is None or principal.user_id is None:
            return None
        old = self._store.take_session(principal.session)
        self.signals.changed()
        user = self._store.user_by_id(principal.user_id)
        if old is None or user is None:
            return None
        return self._new_session(
            user, origin=old.origin, address=old.address, restricted=self._must_enrol(user)
        )

    # -- the second factor ---------------------------------------------------------------

    def _code_ok(self, user: UserRecord, code: str) -> bool:
        """The code of the current 30-second step (or one either side, for clock drift), and
        never one already used: a code seen on a shoulder or a screen is good once."""
        totp = self._totp(user)
        now_step = int(self.clock() // totp.interval)
        for step in (now_step - 1, now_step, now_step + 1):
            if hmac.compare_digest(totp.at(step * totp.interval), code.strip()):
                return self._store.claim_totp_step(user.id, step)
        return False

    def _totp(self, user: UserRecord) -> pyotp.TOTP:
        secret = self._secrets().open(user.totp_secret or "")["totp"]
        return pyotp.TOTP(str(secret))

    def start_totp(self, principal: Principal) -> str:
        """A new (not yet enabled) TOTP secret for the principal; returns its otpauth URI."""
        user = self._person(principal)
        secret = pyotp.random_base32()
        self._store.update_user(
            user.id, totp_secret=self._secrets().seal({"totp": secret}), totp_enabled=False
        )
        self._audit.record(principal, "auth.totp.start", target=user.name)
        return pyotp.TOTP(secret).provisioning_uri(name=user.name, issuer_name="MACHETE")

    def confirm_totp(self, principal: Principal, code: str) -> SignedIn | None:
        user = self._person(principal)
        if not user.totp_secret or not self._code_ok(user, code):
            raise TotpRequiredError("wrong second-factor code")
        self._store.update_user(user.id, totp_enabled=True)
        self._audit.record(principal, "auth.totp.enable", target=user.name)
        return self.rotate(principal)

    def _person(self, principal: Principal) -> UserRecord:
        if principal.kind != PrincipalKind.USER or principal.user_id is None or principal.token:
            raise AuthenticationError("sign in as a person to do this")
        user = self._store.user_by_id(principal.user_id)
        if user is None:
            raise AuthenticationError("unknown user")
        return user

    def change_password(self, principal: Principal, old: str, new: str) -> None:
        user = self._person(principal)
        ok, _ = passwords.verify_password(user.password_hash, old)
        if not ok:
            raise AuthenticationError("the current password is wrong")
        self._store.update_user(user.id, password_hash=passwords.hash_password(new))
        self._store.end_sessions(user.id, keep=principal.session)
        self._store.revoke_tokens_of(user.id, ("cli",))
        self.signals.changed()
        self._audit.record(principal, "auth.password", target=user.name)

    # -- the tools' origin ---------------------------------------------------------------

    def issue_ticket(self, principal: Principal, tool: str) -> str:
        """A one-time, short-lived ticket that signs ``principal`` in on ``tool``'s origin."""
        if principal.user_id is None:
            raise AuthenticationError("sign in first")
        return self._add_session(
            principal.user_id, "ticket", tool, False, principal.address, TICKET_S
        )

    def redeem_ticket(self, ticket: str, tool: str, *, address: str | None = None) -> SignedIn:
        if not ticket or len(ticket) > 200:
            raise AuthenticationError("no ticket")
        found = self._store.take_session(_hash(ticket))
        if found is None or found.origin != "ticket" or found.tool != tool:
            raise AuthenticationError("this link has been used or is not for this tool")
        if self.clock() > found.expires_at:
            raise AuthenticationError("this link has expired")
        user = self._store.user_by_id(found.user_id)
        if user is None or user.disabled:
            raise AuthenticationError("the account is disabled")
        return self._new_session(user, origin="tools", tool=tool, address=address, restricted=False)

    # -- the first owner -----------------------------------------------------------------

    def needs_setup(self) -> bool:
        return self._store.active_owners() == 0

    def write_setup_token(self) -> str | None:
        """While no owner exists, a fresh one-time setup token file; returns its path."""
        if not self.needs_setup():
            bootstrap.remove_setup_token(self._settings.home)
            return None
        return str(bootstrap.write_setup_token(self._settings.home, self.clock()))

    def setup(
        self, token: str, name: str, password: str, *, address: str | None = None
    ) -> SignedIn:
        """Make the first owner with the setup token; of two concurrent calls one wins."""
        if not is_valid_name(name):
            raise InvalidInputError("a user name is a DNS label (a-z, 0-9, -; up to 63)")
        claim = bootstrap.check_setup_token(self._settings.home, token, self.clock())
        hashed = passwords.hash_password(password)
        try:
            user = self._store.add_user(
                name,
                kind="person",
                role="owner",
                password_hash=hashed,
                claim=claim,
                only_if_no_owner=True,
            )
        except NameTakenError:
            raise SetupClosedError("the setup token has been used") from None
        bootstrap.remove_setup_token(self._settings.home)
        principal = self._principal(user, address=address)
        self._audit.record(principal, "users.add", target=name, reason="first owner (setup)")
        return self._new_session(user, origin="api", address=address, restricted=False)
