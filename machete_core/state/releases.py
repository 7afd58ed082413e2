"""Releases: each tool's numbered history of builds and deploys."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import func, select

from machete_core.errors import (
    ToolNotFoundError,
)
from machete_core.state.base import StoreBase, assign, check_fields
from machete_core.state.models import (
    ReleaseRow,
    ToolRow,
)
from machete_core.state.views import (
    ReleaseRecord,
    view_of,
)


class ReleaseStore(StoreBase):
    def create_release(self, tool_id: int, **fields: Any) -> ReleaseRecord:
        check_fields(ReleaseRow, fields, extra=("spec",))
        spec = fields.pop("spec", {})
        with self._tx() as s:
            # Numbering reads the highest number: the tool's row lock makes it one at a time
            # (SQLite serializes writers anyway; PostgreSQL needs the lock).
            s.execute(select(ToolRow.id).where(ToolRow.id == tool_id).with_for_update())
            number = (
                s.scalar(select(func.max(ReleaseRow.number)).where(ReleaseRow.tool_id == tool_id))
                or 0
            ) + 1
            row = ReleaseRow(
                tool_id=tool_id,
                number=number,
                spec_json=json.dumps(spec),
                created_at=time.time(),
                **fields,
            )
            s.add(row)
            s.flush()
            return view_of(ReleaseRecord, row)

    def update_release(self, release_id: int, **fields: Any) -> ReleaseRecord:
        with self._tx() as s:
            row = s.get(ReleaseRow, release_id)
            assert row is not None, release_id
            assign(row, fields)
            return view_of(ReleaseRecord, row)

    def get_release(self, release_id: int) -> ReleaseRecord | None:
        with self._tx() as s:
            row = s.get(ReleaseRow, release_id)
            return view_of(ReleaseRecord, row) if row else None

    def list_releases(self, tool_id: int) -> list[ReleaseRecord]:
        with self._tx() as s:
            rows = s.scalars(
                select(ReleaseRow)
                .where(ReleaseRow.tool_id == tool_id)
                .order_by(ReleaseRow.number.desc())
            )
            return [view_of(ReleaseRecord, r) for r in rows]

    def releases_by_tool(self) -> dict[int, list[ReleaseRecord]]:
        """Every tool's releases (newest first), by tool id, in one query (the reconciler
        reads them all every round)."""
        found: dict[int, list[ReleaseRecord]] = {}
        with self._tx() as s:
            rows = s.scalars(
                select(ReleaseRow).order_by(ReleaseRow.tool_id, ReleaseRow.number.desc())
            )
            for row in rows:
                found.setdefault(row.tool_id, []).append(view_of(ReleaseRecord, row))
        return found

    def promote_release(self, tool_id: int, release_id: int) -> None:
        """Make a release the tool's live one: both rows change in one transaction, so a
        crash can never leave a live release the tool does not point at."""
        now = time.time()
        with self._tx() as s:
            release = s.get(ReleaseRow, release_id)
            tool = s.get(ToolRow, tool_id)
            if release is None or tool is None:
                raise ToolNotFoundError(f"tool {tool_id} or release {release_id} is gone")
            release.status = "live"
            release.finished_at = now
            tool.current_release_id = release_id
            tool.status = "running"
            tool.status_reason = None
            tool.updated_at = now
