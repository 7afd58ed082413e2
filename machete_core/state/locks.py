"""Named locks with expiry, shared by every process on one database."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from machete_core.state.base import StoreBase
from machete_core.state.models import (
    LockRow,
)


class LockStore(StoreBase):
    def try_lock(
        self,
        name: str,
        holder: str,
        seconds: float,
        *,
        holder_gone: Callable[[str], bool] | None = None,
    ) -> bool:
        """Take (or renew) the lock ``name`` for ``seconds``; False while another holds it,
        unless ``holder_gone`` says that holder is a process that no longer exists."""
        now = time.time()
        try:
            with self._tx() as s:
                row = s.get(LockRow, name, with_for_update=True)
                if row is None:
                    s.add(LockRow(name=name, holder=holder, expires_at=now + seconds))
                elif (
                    row.holder == holder
                    or row.expires_at < now
                    or (holder_gone is not None and holder_gone(row.holder))
                ):
                    row.holder, row.expires_at = holder, now + seconds
                else:
                    return False
        except IntegrityError:
            return False  # another process inserted it first
        return True

    def unlock(self, name: str, holder: str) -> None:
        with self._tx() as s:
            s.execute(delete(LockRow).where(LockRow.name == name, LockRow.holder == holder))
