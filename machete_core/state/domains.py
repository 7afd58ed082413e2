"""Custom domains of tools (the host names an ingress routes whole to one tool)."""

from __future__ import annotations

import time

import attrs
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from machete_core.errors import DomainTakenError
from machete_core.state.base import StoreBase
from machete_core.state.models import ToolDomainRow, ToolRow


@attrs.frozen
class DomainRecord:
    name: str
    tool_id: int
    tool: str
    tls: str
    created_at: float
    created_by: str


def _record(row: ToolDomainRow, tool: str) -> DomainRecord:
    return DomainRecord(
        name=row.name,
        tool_id=row.tool_id,
        tool=tool,
        tls=row.tls,
        created_at=row.created_at,
        created_by=row.created_by,
    )


class DomainStore(StoreBase):
    def domains(self, tool_id: int | None = None) -> list[DomainRecord]:
        """Every custom domain (of one tool, with ``tool_id``), by name."""
        query = select(ToolDomainRow, ToolRow.name).join(
            ToolRow, ToolRow.id == ToolDomainRow.tool_id
        )
        if tool_id is not None:
            query = query.where(ToolDomainRow.tool_id == tool_id)
        with self._tx() as s:
            return [
                _record(row, tool) for row, tool in s.execute(query.order_by(ToolDomainRow.name))
            ]

    def add_domain(self, tool_id: int, name: str, tls: str, actor: str) -> DomainRecord:
        with self._tx() as s:
            taken = s.execute(
                select(ToolDomainRow, ToolRow.name)
                .join(ToolRow, ToolRow.id == ToolDomainRow.tool_id)
                .where(ToolDomainRow.name == name)
            ).first()
            if taken is not None:
                raise DomainTakenError(f"{name} already routes to {taken[1]}")
            row = ToolDomainRow(
                name=name, tool_id=tool_id, tls=tls, created_at=time.time(), created_by=actor
            )
            s.add(row)
            try:
                s.flush()
            except IntegrityError:
                # Another writer took it between the check and the insert.
                raise DomainTakenError(f"{name} already routes to another tool") from None
            tool = s.scalar(select(ToolRow.name).where(ToolRow.id == tool_id)) or ""
            return _record(row, tool)

    def remove_domain(self, tool_id: int, name: str) -> bool:
        """False when the tool has no such domain."""
        with self._tx() as s:
            gone = s.execute(
                delete(ToolDomainRow).where(
                    ToolDomainRow.tool_id == tool_id, ToolDomainRow.name == name
                )
            )
            return bool(gone.rowcount)  # type: ignore[attr-defined]
