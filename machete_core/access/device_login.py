"""``machete login --device``: a terminal without a browser or a password prompt asks the
server for a code, a signed-in person approves it on the dashboard, and the terminal's polls
then get a CLI token (RFC 8628's device authorization grant, without OAuth around it).

The device code is a bearer secret held only by the terminal (a hash is stored); the user
code is short, easy to type, single-use and valid for ten minutes. Approving needs a person's
session (never a token); the token is theirs, with every scope, like ``machete login``."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable

import attrs

from machete_core.access.audit import Auditor
from machete_core.access.authn import Authenticator
from machete_core.access.principal import ANONYMOUS, Principal
from machete_core.errors import (
    AuthorizationPendingError,
    DeviceCodeExpiredError,
    DeviceLoginDeniedError,
    ForbiddenError,
    InvalidInputError,
    SlowDownError,
)
from machete_core.state.people_views import DeviceLoginRecord, TokenRecord
from machete_core.state.store import Store

#: No vowels (no words) and no look-alikes (0/O, 1/I).
ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
LIFETIME_S = 600.0
INTERVAL_S = 5


@attrs.frozen
class DeviceStart:
    device_code: str = attrs.field(repr=False)
    user_code: str
    expires_in: int
    interval: int


def normal_code(text: str) -> str:
    """What a person typed, as stored: upper case, four letters, a dash, four letters."""
    letters = "".join(c for c in text.upper() if c in ALPHABET)
    return f"{letters[:4]}-{letters[4:8]}" if len(letters) == 8 else ""


def _hash(device_code: str) -> str:
    return hashlib.sha256(device_code.encode()).hexdigest()


class DeviceLogins:
    def __init__(
        self,
        store: Store,
        authenticator: Authenticator,
        auditor: Auditor,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store, self._authn, self._audit, self.clock = store, authenticator, auditor, clock

    def start(self, label: str, *, address: str | None = None) -> DeviceStart:
        device_code = secrets.token_urlsafe(32)
        letters = "".join(secrets.choice(ALPHABET) for _ in range(8))
        user_code = f"{letters[:4]}-{letters[4:]}"
        now = self.clock()
        label = " ".join(label.split())[:100] or "machete CLI"
        # Who asked, from where (the approval page shows it too).
        self._audit.record(ANONYMOUS.with_request(address, None), "auth.device_start", target=label)
        self._store.add_device_login(
            device_hash=_hash(device_code),
            user_code=user_code,
            label=label,
            requested_from=(address or "")[:64] or None,
            created_at=now,
            expires_at=now + LIFETIME_S,
            state="pending",
        )
        return DeviceStart(device_code, user_code, int(LIFETIME_S), INTERVAL_S)

    def pending(self, user_code: str) -> DeviceLoginRecord:
        """The login waiting for approval under ``user_code`` (to show what is approved)."""
        found = self._store.device_login_by_code(normal_code(user_code))
        if found is None or found.state != "pending" or found.expires_at < self.clock():
            raise InvalidInputError(
                "no login is waiting for that code (it may have expired: run machete login "
                "--device again)",
                details={"path": "user_code"},
            )
        return found

    def decide(self, principal: Principal, user_code: str, *, approve: bool) -> DeviceLoginRecord:
        if principal.session is None or principal.user_id is None or principal.restricted:
            raise ForbiddenError("a signed-in person approves a device login")
        found = self.pending(user_code)
        state = "approved" if approve else "denied"
        if not self._store.move_device_login(
            found.id, "pending", state=state, user_id=principal.user_id
        ):
            raise InvalidInputError("that code was answered already", details={"path": "user_code"})
        self._audit.record(
            principal,
            "auth.device_" + ("approve" if approve else "deny"),
            target=f"{found.label} from {found.requested_from or '?'}",
        )
        return attrs.evolve(found, state=state, user_id=principal.user_id)

    def poll(
        self, device_code: str, *, address: str | None = None, request_id: str | None = None
    ) -> tuple[str, TokenRecord]:
        """The token once approved (once only); else why not yet."""
        found = self._store.device_login_by_hash(_hash(device_code))
        now = self.clock()
        if found is None or found.state == "used" or found.expires_at < now:
            # Like a failed sign-in: someone may be guessing device codes.
            self._audit.record(
                ANONYMOUS.with_request(address, request_id),
                "auth.device_token",
                outcome="denied",
                reason="unknown, used or expired device code",
            )
            raise DeviceCodeExpiredError(
                "this device login is over: run machete login --device again"
            )
        if found.state == "denied":
            raise DeviceLoginDeniedError("the device login was refused on the dashboard")
        if found.state == "pending":
            if found.last_poll_at is not None and now - found.last_poll_at < INTERVAL_S - 1:
                raise SlowDownError(
                    f"poll every {INTERVAL_S} s, not faster", details={"interval": INTERVAL_S}
                )
            self._store.move_device_login(found.id, "pending", last_poll_at=now)
            raise AuthorizationPendingError(
                f"waiting for someone to approve code {found.user_code}",
                details={"interval": INTERVAL_S},
            )
        if found.user_id is None or not self._store.move_device_login(
            found.id, "approved", state="used"
        ):
            raise DeviceCodeExpiredError(
                "this device login is over: run machete login --device again"
            )
        user = self._store.user_by_id(found.user_id)
        if user is None or user.disabled:
            raise DeviceLoginDeniedError("the account that approved it can no longer sign in")
        return self._authn.issue_cli_token(
            user, found.label, address=address, request_id=request_id, action="auth.device_token"
        )
