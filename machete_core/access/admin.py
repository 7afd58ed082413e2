"""Managing people and programs, as one principal: users and service accounts, teams, per-tool
grants and API tokens; and reading the audit log. Every method authorizes, keeps the
invariants (nobody grants above their own role; the last owner stays) and writes an audit row.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from machete_core.access import passwords, tokens
from machete_core.access.actions import SCOPES
from machete_core.access.audit import Auditor
from machete_core.access.authn import AccessSignals
from machete_core.access.policy import Authorizer
from machete_core.access.principal import Principal
from machete_core.access.roles import MAX_GRANT, Role
from machete_core.domain.naming import is_valid_name
from machete_core.errors import (
    AuthenticationError,
    ForbiddenError,
    InvalidInputError,
    MacheteError,
    RoleTooHighError,
    TokenNotFoundError,
    UserNotFoundError,
)
from machete_core.settings import Settings
from machete_core.state.people_views import (
    AuditRecord,
    GrantRecord,
    TeamRecord,
    TokenRecord,
    UserRecord,
)
from machete_core.state.store import Store

DAY_S = 86400.0
#: The longest a token may be made to last.
MAX_TOKEN_DAYS = 3650


class AccessAdmin:
    def __init__(
        self,
        principal: Principal,
        store: Store,
        settings: Settings,
        authorizer: Authorizer,
        auditor: Auditor,
        signals: AccessSignals | None = None,
    ) -> None:
        self.principal = principal
        self._store = store
        self._settings = settings
        self._authz = authorizer
        self._audit = auditor
        self._signals = signals or AccessSignals()

    # -- helpers -------------------------------------------------------------------------

    @contextmanager
    def _audited(self, action: str, target: str | None, tool: str | None = None) -> Iterator[None]:
        try:
            yield
        except (AuthenticationError, ForbiddenError) as exc:
            self._audit.record(
                self.principal,
                action,
                target=target,
                tool=tool,
                outcome="denied",
                reason=exc.message,
            )
            raise
        except MacheteError as exc:
            self._audit.record(
                self.principal,
                action,
                target=target,
                tool=tool,
                outcome="failed",
                reason=f"{exc.code}: {exc.message}",
            )
            raise
        # Roles, teams, accounts or tokens changed: resolved principals are stale now.
        self._signals.changed()
        self._audit.record(self.principal, action, target=target, tool=tool)

    @property
    def own_role(self) -> Role:
        if self.principal.trusted:
            return Role.OWNER
        return self.principal.role or Role.VIEWER

    def _not_above_own(self, role: Role, what: str) -> None:
        if role > self.own_role:
            raise RoleTooHighError(
                f"you cannot {what} {role.label}: it is above your own role ({self.own_role.label})"
            )

    @staticmethod
    def _check_name(name: str, what: str) -> None:
        if not is_valid_name(name):
            raise InvalidInputError(
                f"a {what} name is a DNS label (a-z, 0-9 and -, up to 63 characters)",
                details={"path": "name"},
            )

    # -- users ---------------------------------------------------------------------------

    def users(self) -> list[UserRecord]:
        self._authz.authorize(self.principal, "users.read")
        return self._store.list_users()

    def add_user(
        self, name: str, role: str, *, password: str | None = None, service: bool = False
    ) -> UserRecord:
        with self._audited("users.add", name):
            self._authz.authorize(self.principal, "users.manage")
            self._check_name(name, "user")
            wanted = Role.parse(role)
            self._not_above_own(wanted, "make someone")
            if service:
                if wanted >= Role.ADMIN:
                    raise InvalidInputError("a service account's role is at most maintainer")
                hashed = None
            else:
                if password is None:
                    raise InvalidInputError(
                        "a person needs a password", details={"path": "password"}
                    )
                hashed = passwords.hash_password(password)
            return self._store.add_user(
                name,
                kind="service" if service else "person",
                role=wanted.label,
                password_hash=hashed,
            )

    def _target(self, name: str) -> UserRecord:
        user = self._store.find_user(name)
        if user is None:
            raise UserNotFoundError(f"no user named {name!r}")
        if Role.parse(user.role) > self.own_role:
            raise RoleTooHighError(f"{name} holds a role above yours")
        return user

    def set_role(self, name: str, role: str) -> UserRecord:
        with self._audited("users.set_role", f"{name}={role}"):
            self._authz.authorize(self.principal, "users.manage")
            user = self._target(name)
            wanted = Role.parse(role)
            self._not_above_own(wanted, "make someone")
            updated = self._store.update_user(user.id, role=wanted.label, keep_an_owner=True)
            if wanted != Role.parse(user.role):
                # Any change of privilege signs the user in afresh (a new session id); a
                # demotion also ends their CLI sign-ins. Personal tokens follow the new role.
                self._store.end_sessions(user.id)
            if wanted < Role.parse(user.role):
                self._store.revoke_tokens_of(user.id, ("cli",))
            return updated

    def set_disabled(self, name: str, disabled: bool = True) -> UserRecord:
        with self._audited("users.disable" if disabled else "users.enable", name):
            self._authz.authorize(self.principal, "users.manage")
            user = self._target(name)
            updated = self._store.update_user(user.id, disabled=disabled, keep_an_owner=True)
            if disabled:
                self._end_everything(user.id)
            return updated

    def reset_password(self, name: str, password: str) -> UserRecord:
        with self._audited("users.reset_password", name):
            self._authz.authorize(self.principal, "users.manage")
            user = self._target(name)
            if user.kind != "person":
                raise InvalidInputError("service accounts have no password; use tokens")
            updated = self._store.update_user(
                user.id, password_hash=passwords.hash_password(password)
            )
            self._end_everything(user.id)
            return updated

    def _end_everything(self, user_id: int) -> None:
        """A password reset, disable or demotion ends the user's sessions and CLI logins."""
        self._store.end_sessions(user_id)
        self._store.revoke_tokens_of(user_id, ("cli",))

    # -- teams ---------------------------------------------------------------------------

    def teams(self) -> list[TeamRecord]:
        self._authz.authorize(self.principal, "users.read")
        return self._store.list_teams()

    def add_team(self, name: str) -> TeamRecord:
        with self._audited("teams.add", name):
            self._authz.authorize(self.principal, "users.manage")
            self._check_name(name, "team")
            return self._store.add_team(name)

    def delete_team(self, name: str) -> None:
        with self._audited("teams.delete", name):
            self._authz.authorize(self.principal, "users.manage")
            self._store.delete_team(name)

    def set_member(self, team: str, user: str, member: bool = True) -> None:
        with self._audited(
            "teams.add_member" if member else "teams.remove_member", f"{team}:{user}"
        ):
            self._authz.authorize(self.principal, "users.manage")
            self._store.set_membership(team, self._store.get_user(user).id, member)

    # -- grants --------------------------------------------------------------------------

    def grants(self, tool: str | None = None) -> list[GrantRecord]:
        if tool is None:
            self._authz.authorize(self.principal, "users.read")
            return self._store.grants()
        record = self._authz.authorize(self.principal, "tools.grants", tool)
        assert record is not None
        return self._store.grants(record.id)

    def grant(
        self, tool: str, role: str | None, *, user: str | None = None, team: str | None = None
    ) -> None:
        """Give ``role`` on ``tool`` to a user or a team; ``None`` takes it away."""
        if (user is None) == (team is None):
            raise InvalidInputError("name exactly one of a user and a team")
        subject = f"user:{user}" if user is not None else f"team:{team}"
        action = "grants.set" if role is not None else "grants.revoke"
        with self._audited(action, f"{subject}={role or '-'}", tool=tool):
            record = self._authz.authorize(self.principal, "tools.grants", tool)
            assert record is not None
            if role is not None:
                wanted = Role.parse(role)
                if wanted > MAX_GRANT:
                    raise InvalidInputError(
                        f"a grant gives at most {MAX_GRANT.label}; instance roles give more"
                    )
                mine = self._authz.tool_role(self.principal, record) or Role.VIEWER
                if wanted > mine:
                    raise RoleTooHighError(
                        f"you cannot grant {wanted.label} on {tool}: your role there is "
                        f"{mine.label}"
                    )
            subject_id = (
                self._store.get_user(user).id
                if user is not None
                else self._store.team_id(team or "")
            )
            self._store.set_grant(
                record.id,
                "user" if user is not None else "team",
                subject_id,
                None if role is None else Role.parse(role).label,
                self.principal.name,
            )

    # -- tokens --------------------------------------------------------------------------

    def tokens(self, user: str | None = None) -> list[TokenRecord]:
        if user is None and self.principal.user_id is not None and not self.principal.trusted:
            self._authz.authorize(self.principal, "tokens.own")
            return self._store.tokens(self.principal.user_id)
        if user is not None and user == self.principal.name:
            self._authz.authorize(self.principal, "tokens.own")
        else:
            self._authz.authorize(self.principal, "tokens.manage")
        return self._store.tokens(None if user is None else self._store.get_user(user).id)

    def create_token(
        self,
        name: str,
        scopes: tuple[str, ...],
        *,
        tools: tuple[str, ...] = (),
        expires_days: int | None = None,
        user: str | None = None,
        kind: str | None = None,
    ) -> tuple[str, TokenRecord]:
        """A new token: (its text, shown once; its record). ``user`` defaults to oneself."""
        owner_name = user or self.principal.name
        with self._audited("tokens.create", f"{owner_name}:{name}"):
            own = owner_name == self.principal.name and self.principal.user_id is not None
            self._authz.authorize(self.principal, "tokens.own" if own else "tokens.manage")
            owner = self._store.get_user(owner_name)
            if not own and Role.parse(owner.role) > self.own_role:
                raise RoleTooHighError(f"{owner_name} holds a role above yours")
            if not own and owner.kind != "service" and not self.principal.trusted:
                # A token for another person would let an admin act as them.
                raise ForbiddenError(
                    "people make their own tokens; admins make them for service accounts "
                    "(and the host's machete CLI for anyone)"
                )
            kind = kind or ("service" if owner.kind == "service" else "personal")
            if kind not in tokens.CODES:
                raise InvalidInputError(f"there is no token kind {kind!r}")
            if not name.strip() or len(name) > 100:
                raise InvalidInputError("a token needs a name of 1-100 characters")
            unknown = sorted(set(scopes) - set(SCOPES))
            if unknown or not scopes:
                raise InvalidInputError(
                    f"unknown or no scopes ({', '.join(unknown)}); scopes: {', '.join(SCOPES)}",
                    details={"path": "scopes"},
                )
            for tool in tools:
                self._store.get_tool(tool)
            days = self._settings.token_default_days if expires_days is None else expires_days
            if not 0 < days <= MAX_TOKEN_DAYS:
                raise InvalidInputError(f"a token lasts 1 to {MAX_TOKEN_DAYS} days")
            made = tokens.new_token(kind)
            now = time.time()
            record = self._store.add_token(
                public_id=made.public_id,
                kind=kind,
                user_id=owner.id,
                name=name.strip(),
                secret_hash=made.secret_hash,
                scopes=tuple(sorted(set(scopes))),
                tools=tuple(sorted(set(tools))),
                last_four=made.last_four,
                created_by=self.principal.name,
                created_at=now,
                expires_at=now + days * DAY_S,
            )
            return made.text, record

    def revoke_token(self, public_id: str) -> None:
        with self._audited("tokens.revoke", public_id):
            row = self._store.token(public_id)
            mine = row is not None and row.user_id == self.principal.user_id
            self._authz.authorize(self.principal, "tokens.own")
            # Another's token is "not found" to those who may not manage tokens (no probing).
            if row is None or not (mine or self._authz.allows(self.principal, "tokens.manage")):
                raise TokenNotFoundError(f"no token {public_id!r}")
            if not mine and Role.parse(self._store.get_user(row.user).role) > self.own_role:
                raise RoleTooHighError(f"{row.user} holds a role above yours")
            self._store.revoke_token(public_id)

    # -- the audit log -------------------------------------------------------------------

    def audit(
        self,
        *,
        tool: str | None = None,
        actor: str | None = None,
        since: float | None = None,
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[AuditRecord]:
        self._authz.authorize(self.principal, "audit.read")
        return self._store.audit(
            tool=tool, actor=actor, since=since, after_id=after_id, limit=limit
        )
