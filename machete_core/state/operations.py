"""Operations, their steps and leases."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import func, select, update

from machete_core.domain.operations import Actor
from machete_core.errors import (
    OperationNotFoundError,
    ToolBusyError,
)
from machete_core.state.base import StoreBase, assign, check_fields
from machete_core.state.models import (
    OperationRow,
    StepRow,
    ToolRow,
)
from machete_core.state.views import (
    OperationRecord,
    StepRecord,
    view_of,
)


class OperationStore(StoreBase):
    def create_operation(
        self, *, actor: Actor, exclusive_kinds: tuple[str, ...] = (), **fields: Any
    ) -> OperationRecord:
        """Record a new pending operation.

        With ``exclusive_kinds``, the check that no other such operation of the same tool is
        unfinished happens in the same transaction as the insert (the tool's row is locked
        first), so two processes can never both start one.
        """
        check_fields(OperationRow, fields, extra=("params",))
        params = fields.pop("params", {})
        row = OperationRow(
            params_json=json.dumps(params),
            status="pending",
            created_at=time.time(),
            actor_kind=actor.kind.value,
            actor_id=actor.id,
            actor_name=actor.name,
            **fields,
        )
        with self._tx() as s:
            if exclusive_kinds and fields.get("tool_id") is not None:
                s.execute(
                    select(ToolRow.id).where(ToolRow.id == fields["tool_id"]).with_for_update()
                )
                other = s.scalar(
                    select(OperationRow).where(
                        OperationRow.tool_id == fields["tool_id"],
                        OperationRow.kind.in_(exclusive_kinds),
                        OperationRow.status.in_(("pending", "running")),
                    )
                )
                if other is not None:
                    raise ToolBusyError(
                        f"{fields.get('tool_name')} is busy with operation {other.id} "
                        f"({other.kind}); try again when it ends",
                        details={"operation": other.id},
                    )
            s.add(row)
            s.flush()
            return view_of(OperationRecord, row, steps=())

    def renew_leases(self, op_ids: list[str], holder: str, lease_seconds: float) -> dict[str, str]:
        """Extend the leases ``holder`` has on ``op_ids``; return the ones it must give up.

        The answer maps an operation to why: ``cancel`` (someone asked for it to stop) or
        ``lost`` (it ended or changed hands while this holder was not looking, e.g. another
        process took it for abandoned after a long stall).
        """
        if not op_ids:
            return {}
        now = time.time()
        with self._tx() as s:
            s.execute(
                update(OperationRow)
                .where(
                    OperationRow.id.in_(op_ids),
                    OperationRow.holder == holder,
                    OperationRow.status.in_(("pending", "running")),
                )
                .values(lease_expires_at=now + lease_seconds)
            )
            rows = s.execute(
                select(
                    OperationRow.id,
                    OperationRow.holder,
                    OperationRow.status,
                    OperationRow.cancel_requested,
                ).where(OperationRow.id.in_(op_ids))
            ).all()
        verdicts: dict[str, str] = {}
        seen = set()
        for op_id, row_holder, status, cancel_requested in rows:
            seen.add(op_id)
            if row_holder != holder or status not in ("pending", "running"):
                verdicts[op_id] = "lost"
            elif cancel_requested:
                verdicts[op_id] = "cancel"
        for op_id in set(op_ids) - seen:
            verdicts[op_id] = "lost"
        return verdicts

    def finish_operation(self, op_id: str, holder: str, **fields: Any) -> bool:
        """Record an operation's end, only if ``holder`` still holds it unfinished: a holder
        whose operation was taken for abandoned must not overwrite that verdict."""
        check_fields(OperationRow, fields)
        with self._tx() as s:
            result = s.execute(
                update(OperationRow)
                .where(
                    OperationRow.id == op_id,
                    OperationRow.holder == holder,
                    OperationRow.status.in_(("pending", "running")),
                )
                .values(**fields)
            )
            return bool(getattr(result, "rowcount", 0))

    def request_cancel(self, op_id: str) -> bool:
        """Ask an unfinished operation's holder to stop; False when it has already ended."""
        with self._tx() as s:
            result = s.execute(
                update(OperationRow)
                .where(OperationRow.id == op_id, OperationRow.status.in_(("pending", "running")))
                .values(cancel_requested=True)
            )
            return bool(getattr(result, "rowcount", 0))

    def update_operation(self, op_id: str, **fields: Any) -> None:
        with self._tx() as s:
            row = s.get(OperationRow, op_id)
            if row is None:
                raise OperationNotFoundError(f"no operation {op_id!r}")
            assign(row, fields)

    def get_operation(self, op_id: str) -> OperationRecord:
        with self._tx() as s:
            row = s.get(OperationRow, op_id)
            if row is None:
                raise OperationNotFoundError(f"no operation {op_id!r}")
            steps = s.scalars(
                select(StepRow).where(StepRow.operation_id == op_id).order_by(StepRow.id)
            )
            return view_of(
                OperationRecord, row, steps=tuple(view_of(StepRecord, st) for st in steps)
            )

    def list_operations(
        self, tool_name: str | None = None, limit: int = 50
    ) -> list[OperationRecord]:
        with self._tx() as s:
            query = select(OperationRow).order_by(OperationRow.created_at.desc()).limit(limit)
            if tool_name is not None:
                query = query.where(OperationRow.tool_name == tool_name)
            return [view_of(OperationRecord, r, steps=()) for r in s.scalars(query)]

    def latest_operations(self) -> dict[str, OperationRecord]:
        """Each tool's newest operation, by tool name, in one query."""
        newest = (
            select(OperationRow.tool_name, func.max(OperationRow.created_at).label("at"))
            .where(OperationRow.tool_name.is_not(None))
            .group_by(OperationRow.tool_name)
            .subquery()
        )
        query = select(OperationRow).join(
            newest,
            (OperationRow.tool_name == newest.c.tool_name)
            & (OperationRow.created_at == newest.c.at),
        )
        with self._tx() as s:
            return {
                str(r.tool_name): view_of(OperationRecord, r, steps=()) for r in s.scalars(query)
            }

    def begin_step(self, op_id: str, name: str) -> int:
        with self._tx() as s:
            row = StepRow(operation_id=op_id, name=name, status="running", started_at=time.time())
            s.add(row)
            s.flush()
            return row.id

    def end_step(self, step_id: int, status: str, detail: str | None = None) -> None:
        with self._tx() as s:
            row = s.get(StepRow, step_id)
            assert row is not None
            row.status = status
            row.detail = detail
            row.finished_at = time.time()
