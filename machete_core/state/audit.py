"""The audit log: appended to, read with filters, pruned by age. Never updated."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, or_, select

from machete_core.state.base import StoreBase
from machete_core.state.models import AuditRow
from machete_core.state.people_views import AuditRecord
from machete_core.state.views import view_of


class AuditStore(StoreBase):
    def append_audit(self, **fields: Any) -> None:
        with self._tx() as s:
            s.add(AuditRow(**fields))

    def audit(
        self,
        *,
        tool: str | None = None,
        actor: str | None = None,
        since: float | None = None,
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[AuditRecord]:
        q = select(AuditRow).where(AuditRow.id > after_id)
        if tool is not None:
            q = q.where(AuditRow.tool == tool)
        if actor is not None:
            q = q.where(or_(AuditRow.actor_name == actor, AuditRow.actor_id == actor))
        if since is not None:
            q = q.where(AuditRow.at >= since)
        with self._tx() as s:
            rows = s.execute(q.order_by(AuditRow.id).limit(limit)).scalars()
            return [view_of(AuditRecord, r) for r in rows]

    def prune_audit(self, before: float) -> int:
        with self._tx() as s:
            result = s.execute(delete(AuditRow).where(AuditRow.at < before))
            return int(result.rowcount)  # type: ignore[attr-defined]
