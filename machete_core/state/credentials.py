"""API tokens, sessions (and one-time tickets), sign-in failures."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import delete, func, select, update

from machete_core.state.base import StoreBase
from machete_core.state.models import LoginAttemptRow, SessionRow, TokenRow, UserRow
from machete_core.state.people_views import SessionRecord, TokenRecord
from machete_core.state.views import view_of


def _token_view(row: TokenRow, user: str) -> TokenRecord:
    return view_of(
        TokenRecord,
        row,
        user=user,
        scopes=tuple(row.scopes.split()),
        tools=tuple(row.tools.split()),
    )


class CredentialStore(StoreBase):
    # -- tokens --------------------------------------------------------------------------

    def add_token(self, **fields: Any) -> TokenRecord:
        fields["scopes"] = " ".join(fields["scopes"])
        fields["tools"] = " ".join(fields.get("tools", ()))
        with self._tx() as s:
            row = TokenRow(**fields)
            s.add(row)
            s.flush()
            user = s.get(UserRow, row.user_id)
            return _token_view(row, user.name if user else "?")

    def token(self, public_id: str) -> TokenRecord | None:
        with self._tx() as s:
            found = s.execute(
                select(TokenRow, UserRow.name)
                .join(UserRow, UserRow.id == TokenRow.user_id)
                .where(TokenRow.public_id == public_id)
            ).first()
            return None if found is None else _token_view(found[0], found[1])

    def tokens(self, user_id: int | None = None) -> list[TokenRecord]:
        with self._tx() as s:
            q = select(TokenRow, UserRow.name).join(UserRow, UserRow.id == TokenRow.user_id)
            if user_id is not None:
                q = q.where(TokenRow.user_id == user_id)
            return [_token_view(t, u) for t, u in s.execute(q.order_by(TokenRow.id)).all()]

    def revoke_token(self, public_id: str) -> None:
        with self._tx() as s:
            s.execute(
                update(TokenRow)
                .where(TokenRow.public_id == public_id, TokenRow.revoked_at.is_(None))
                .values(revoked_at=time.time())
            )

    def revoke_tokens_of(self, user_id: int, kinds: tuple[str, ...]) -> None:
        with self._tx() as s:
            s.execute(
                update(TokenRow)
                .where(
                    TokenRow.user_id == user_id,
                    TokenRow.kind.in_(kinds),
                    TokenRow.revoked_at.is_(None),
                )
                .values(revoked_at=time.time())
            )

    def token_used(self, public_id: str, at: float, address: str | None) -> None:
        with self._tx() as s:
            s.execute(
                update(TokenRow)
                .where(TokenRow.public_id == public_id)
                .values(last_used_at=at, last_used_from=address)
            )

    # -- sessions ------------------------------------------------------------------------

    def add_session(self, **fields: Any) -> None:
        with self._tx() as s:
            s.add(SessionRow(**fields))

    def session(self, id_hash: str) -> SessionRecord | None:
        with self._tx() as s:
            row = s.get(SessionRow, id_hash)
            return None if row is None else view_of(SessionRecord, row)

    def touch_session(self, id_hash: str, at: float) -> None:
        with self._tx() as s:
            s.execute(
                update(SessionRow).where(SessionRow.id_hash == id_hash).values(last_seen_at=at)
            )

    def take_session(self, id_hash: str) -> SessionRecord | None:
        """Delete and return a session (a one-time ticket is used exactly once)."""
        with self._tx() as s:
            row = s.get(SessionRow, id_hash, with_for_update=True)
            if row is None:
                return None
            found = view_of(SessionRecord, row)
            deleted = s.execute(delete(SessionRow).where(SessionRow.id_hash == id_hash))
            return found if deleted.rowcount == 1 else None  # type: ignore[attr-defined]

    def end_sessions(self, user_id: int, *, keep: str | None = None) -> None:
        with self._tx() as s:
            q = delete(SessionRow).where(SessionRow.user_id == user_id)
            if keep is not None:
                q = q.where(SessionRow.id_hash != keep)
            s.execute(q)

    def prune_sessions(self, now: float) -> None:
        with self._tx() as s:
            s.execute(delete(SessionRow).where(SessionRow.expires_at < now))

    # -- sign-in failures ----------------------------------------------------------------

    def add_failure(self, keys: tuple[str, ...], at: float) -> None:
        with self._tx() as s:
            for key in keys:
                s.add(LoginAttemptRow(key=key, at=at))

    def failures(self, key: str, since: float) -> tuple[int, float | None]:
        """How many failures ``key`` has had since ``since``, and the newest one's time."""
        with self._tx() as s:
            count, last = s.execute(
                select(func.count(), func.max(LoginAttemptRow.at)).where(
                    LoginAttemptRow.key == key, LoginAttemptRow.at >= since
                )
            ).one()
        return int(count), last

    def clear_failures(self, key: str) -> None:
        with self._tx() as s:
            s.execute(delete(LoginAttemptRow).where(LoginAttemptRow.key == key))

    def prune_failures(self, before: float) -> None:
        with self._tx() as s:
            s.execute(delete(LoginAttemptRow).where(LoginAttemptRow.at < before))
