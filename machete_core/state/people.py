"""Users (and service accounts), teams and per-tool grants."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from machete_core.errors import (
    LastOwnerError,
    NameTakenError,
    TeamNotFoundError,
    UserNotFoundError,
)
from machete_core.state.base import StoreBase, assign
from machete_core.state.models import GrantRow, LockRow, TeamMemberRow, TeamRow, ToolRow, UserRow
from machete_core.state.people_views import GrantRecord, TeamRecord, UserRecord
from machete_core.state.views import view_of


class PeopleStore(StoreBase):
    # -- users ---------------------------------------------------------------------------

    def add_user(
        self,
        name: str,
        *,
        kind: str,
        role: str,
        password_hash: str | None,
        claim: str | None = None,
        only_if_no_owner: bool = False,
    ) -> UserRecord:
        """Add a user. ``claim`` names a one-time marker taken in the same transaction (a
        setup token: of two concurrent uses one fails); with ``only_if_no_owner`` the user is
        added only while no owner exists."""
        now = time.time()
        try:
            with self._tx() as s:
                if only_if_no_owner and self._owners(s) > 0:
                    raise NameTakenError("an owner exists already")
                if claim is not None:
                    s.add(LockRow(name=claim, holder=name, expires_at=now))
                row = UserRow(
                    name=name,
                    kind=kind,
                    role=role,
                    password_hash=password_hash,
                    totp_enabled=False,
                    disabled=False,
                    created_at=now,
                    updated_at=now,
                )
                s.add(row)
                s.flush()
                return view_of(UserRecord, row)
        except IntegrityError:
            raise NameTakenError(f"the name {name!r} is taken") from None

    @staticmethod
    def _owners(s: Any) -> int:
        q = (
            select(func.count())
            .select_from(UserRow)
            .where(UserRow.role == "owner", UserRow.disabled.is_(False))
        )
        return int(s.execute(q).scalar_one())

    def active_owners(self) -> int:
        with self._tx() as s:
            return self._owners(s)

    def count_users(self) -> int:
        with self._tx() as s:
            return int(s.execute(select(func.count()).select_from(UserRow)).scalar_one())

    def find_user(self, name: str) -> UserRecord | None:
        with self._tx() as s:
            row = s.execute(select(UserRow).where(UserRow.name == name)).scalar_one_or_none()
            return None if row is None else view_of(UserRecord, row)

    def user_by_id(self, user_id: int) -> UserRecord | None:
        with self._tx() as s:
            row = s.get(UserRow, user_id)
            return None if row is None else view_of(UserRecord, row)

    def get_user(self, name: str) -> UserRecord:
        user = self.find_user(name)
        if user is None:
            raise UserNotFoundError(f"no user named {name!r}")
        return user

    def list_users(self) -> list[UserRecord]:
        with self._tx() as s:
            rows = s.execute(select(UserRow).order_by(UserRow.name)).scalars()
            return [view_of(UserRecord, r) for r in rows]

    def update_user(
        self, user_id: int, *, keep_an_owner: bool = False, **fields: Any
    ) -> UserRecord:
        """Change a user; with ``keep_an_owner`` a change that would leave no active owner is
        refused (``last_owner``), checked in the same transaction."""
        with self._tx() as s:
            if keep_an_owner:
                # Lock every owner row first: two demotions of two owners at once must not
                # both see "another owner remains" (PostgreSQL; SQLite serializes writers).
                s.execute(select(UserRow.id).where(UserRow.role == "owner").with_for_update())
            row = s.get(UserRow, user_id, with_for_update=True)
            if row is None:
                raise UserNotFoundError(f"no user with id {user_id}")
            was_owner = row.role == "owner" and not row.disabled
            assign(row, {**fields, "updated_at": time.time()})
            s.flush()
            if keep_an_owner and was_owner and self._owners(s) == 0:
                raise LastOwnerError("the last owner cannot be removed, disabled or demoted")
            return view_of(UserRecord, row)

    def claim_totp_step(self, user_id: int, step: int) -> bool:
        """Record that the code of ``step`` was used; False if it (or a later one) already was,
        decided in one statement so two sign-ins cannot both use one code."""
        with self._tx() as s:
            result = s.execute(
                update(UserRow)
                .where(
                    UserRow.id == user_id,
                    (UserRow.totp_last_step.is_(None)) | (UserRow.totp_last_step < step),
                )
                .values(totp_last_step=step)
            )
            return bool(getattr(result, "rowcount", 0))

    # -- teams ---------------------------------------------------------------------------

    def add_team(self, name: str) -> TeamRecord:
        try:
            with self._tx() as s:
                row = TeamRow(name=name, created_at=time.time())
                s.add(row)
                s.flush()
                return TeamRecord(row.id, row.name, row.created_at)
        except IntegrityError:
            raise NameTakenError(f"the name {name!r} is taken") from None

    def _team(self, s: Any, name: str) -> TeamRow:
        row = s.execute(select(TeamRow).where(TeamRow.name == name)).scalar_one_or_none()
        if row is None:
            raise TeamNotFoundError(f"no team named {name!r}")
        return row

    def delete_team(self, name: str) -> None:
        with self._tx() as s:
            team = self._team(s, name)
            s.execute(
                delete(GrantRow).where(
                    GrantRow.subject_kind == "team", GrantRow.subject_id == team.id
                )
            )
            s.delete(team)

    def list_teams(self) -> list[TeamRecord]:
        with self._tx() as s:
            teams = s.execute(select(TeamRow).order_by(TeamRow.name)).scalars().all()
            pairs = s.execute(
                select(TeamMemberRow.team_id, UserRow.name)
                .join(UserRow, UserRow.id == TeamMemberRow.user_id)
                .order_by(UserRow.name)
            ).all()
        members: dict[int, list[str]] = {}
        for team_id, user in pairs:
            members.setdefault(team_id, []).append(user)
        return [TeamRecord(t.id, t.name, t.created_at, tuple(members.get(t.id, ()))) for t in teams]

    def set_membership(self, team: str, user_id: int, member: bool) -> None:
        with self._tx() as s:
            row = self._team(s, team)
            existing = s.get(TeamMemberRow, (row.id, user_id))
            if member and existing is None:
                s.add(TeamMemberRow(team_id=row.id, user_id=user_id))
            elif not member and existing is not None:
                s.delete(existing)

    def team_ids_of(self, user_id: int) -> tuple[int, ...]:
        with self._tx() as s:
            q = select(TeamMemberRow.team_id).where(TeamMemberRow.user_id == user_id)
            return tuple(sorted(s.execute(q).scalars()))

    def team_id(self, name: str) -> int:
        with self._tx() as s:
            return self._team(s, name).id

    # -- grants --------------------------------------------------------------------------

    def set_grant(
        self, tool_id: int, subject_kind: str, subject_id: int, role: str | None, by: str
    ) -> None:
        """Give ``role`` to a user or team on one tool; ``None`` takes the grant away."""
        with self._tx() as s:
            row = s.execute(
                select(GrantRow).where(
                    GrantRow.tool_id == tool_id,
                    GrantRow.subject_kind == subject_kind,
                    GrantRow.subject_id == subject_id,
                )
            ).scalar_one_or_none()
            if role is None:
                if row is not None:
                    s.delete(row)
                return
            if row is None:
                s.add(
                    GrantRow(
                        tool_id=tool_id,
                        subject_kind=subject_kind,
                        subject_id=subject_id,
                        role=role,
                        granted_by=by,
                        created_at=time.time(),
                    )
                )
            else:
                row.role, row.granted_by = role, by

    def grant_roles(self, tool_id: int, user_id: int, team_ids: tuple[int, ...]) -> list[str]:
        """The roles the user holds on the tool through grants (to them or their teams)."""
        subject = (GrantRow.subject_kind == "user") & (GrantRow.subject_id == user_id)
        if team_ids:
            subject = subject | (
                (GrantRow.subject_kind == "team") & GrantRow.subject_id.in_(team_ids)
            )
        with self._tx() as s:
            q = select(GrantRow.role).where(GrantRow.tool_id == tool_id, subject)
            return list(s.execute(q).scalars())

    def granted_tool_ids(self, user_id: int, team_ids: tuple[int, ...]) -> dict[int, list[str]]:
        subject = (GrantRow.subject_kind == "user") & (GrantRow.subject_id == user_id)
        if team_ids:
            subject = subject | (
                (GrantRow.subject_kind == "team") & GrantRow.subject_id.in_(team_ids)
            )
        out: dict[int, list[str]] = {}
        with self._tx() as s:
            for tool_id, role in s.execute(select(GrantRow.tool_id, GrantRow.role).where(subject)):
                out.setdefault(tool_id, []).append(role)
        return out

    def grants(self, tool_id: int | None = None) -> list[GrantRecord]:
        with self._tx() as s:
            q = select(GrantRow, ToolRow.name).join(ToolRow, ToolRow.id == GrantRow.tool_id)
            if tool_id is not None:
                q = q.where(GrantRow.tool_id == tool_id)
            rows = s.execute(q.order_by(ToolRow.name, GrantRow.id)).all()
            users = dict(s.execute(select(UserRow.id, UserRow.name)).all())
            teams = dict(s.execute(select(TeamRow.id, TeamRow.name)).all())
        out = []
        for grant, tool in rows:
            names = users if grant.subject_kind == "user" else teams
            out.append(
                GrantRecord(
                    tool,
                    grant.subject_kind,
                    names.get(grant.subject_id, "?"),
                    grant.role,
                    grant.granted_by,
                    grant.created_at,
                )
            )
        return out
