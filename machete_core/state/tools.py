"""Tools, their configuration and health history."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from machete_core.errors import (
    ToolExistsError,
    ToolNotFoundError,
)
from machete_core.state.base import StoreBase, assign, check_fields
from machete_core.state.models import (
    ConfigRow,
    HealthEventRow,
    NotifyChannelRow,
    OperationRow,
    ReleaseRow,
    ToolDomainRow,
    ToolRow,
)
from machete_core.state.notifications import delete_channels
from machete_core.state.views import (
    ConfigRecord,
    HealthEventRecord,
    ReleaseRecord,
    ToolRecord,
    view_of,
)


class ToolStore(StoreBase):
    def create_tool(self, **fields: Any) -> ToolRecord:
        now = time.time()
        check_fields(ToolRow, fields, extra=("spec", "overrides"))
        spec = fields.pop("spec", {})
        overrides = fields.pop("overrides", {})
        row = ToolRow(
            spec_json=json.dumps(spec),
            overrides_json=json.dumps(overrides),
            created_at=now,
            updated_at=now,
            **fields,
        )
        row.enabled = fields.get("enabled", True)
        row.auto_start = fields.get("auto_start", True)
        row.status = fields.get("status", "pending")
        try:
            with self._tx() as s:
                s.add(row)
                s.flush()
                return self._tool_view(row)
        except IntegrityError:
            raise ToolExistsError(f"a tool named {fields.get('name')!r} already exists") from None

    def find_tool(self, ident: str | int) -> ToolRecord | None:
        """By name, or by integer id (``"7"`` and ``7`` both work, as the original's API did)."""
        text = str(ident)
        # Names are ASCII DNS labels and ids fit SQL's 64-bit integers; anything else (Unicode
        # digits, lone surrogates, 30-digit numbers) names no tool, and must not reach SQL.
        if not text.isascii() or len(text) > 64:
            return None
        with self._tx() as s:
            row = s.scalar(select(ToolRow).where(ToolRow.name == text))
            if row is None and text.isdigit() and int(text) < 2**63:
                row = s.get(ToolRow, int(text))
            return self._tool_view(row) if row else None

    def get_tool(self, ident: str | int) -> ToolRecord:
        tool = self.find_tool(ident)
        if tool is None:
            raise ToolNotFoundError(f"no tool named {ident!r}")
        return tool

    def list_tools(self) -> list[ToolRecord]:
        with self._tx() as s:
            return [self._tool_view(r) for r in s.scalars(select(ToolRow).order_by(ToolRow.name))]

    def update_tool(self, tool_id: int, **fields: Any) -> ToolRecord:
        with self._tx() as s:
            row = s.get(ToolRow, tool_id)
            if row is None:
                raise ToolNotFoundError(f"tool {tool_id} no longer exists")
            check_fields(ToolRow, fields, extra=("spec", "overrides"))
            if "spec" in fields:
                row.spec_json = json.dumps(fields.pop("spec"))
            if "overrides" in fields:
                row.overrides_json = json.dumps(fields.pop("overrides"))
            assign(row, fields)
            row.updated_at = time.time()
            return self._tool_view(row)

    def config(self, tool_id: int) -> list[ConfigRecord]:
        with self._tx() as s:
            rows = s.scalars(
                select(ConfigRow).where(ConfigRow.tool_id == tool_id).order_by(ConfigRow.key)
            )
            return [view_of(ConfigRecord, r) for r in rows]

    def change_config(
        self,
        tool_id: int,
        set_values: dict[str, tuple[str, bool]],
        unset: list[str],
        by: str | None = None,
    ) -> int:
        """Apply a change in one transaction (``by``: who, as ``kind:name``); returns the
        tool's new config version."""
        now = time.time()
        with self._tx() as s:
            tool = s.get(ToolRow, tool_id)
            if tool is None:
                raise ToolNotFoundError(f"tool {tool_id} no longer exists")
            for key in unset:
                s.execute(
                    delete(ConfigRow).where(ConfigRow.tool_id == tool_id, ConfigRow.key == key)
                )
            for key, (value, secret) in set_values.items():
                row = s.get(ConfigRow, (tool_id, key))
                if row is None:
                    s.add(
                        ConfigRow(
                            tool_id=tool_id,
                            key=key,
                            value=value,
                            secret=secret,
                            updated_at=now,
                            updated_by=by,
                        )
                    )
                else:
                    row.value, row.secret, row.updated_at = value, secret, now
                    row.updated_by = by
            tool.config_version = (tool.config_version or 0) + 1
            tool.updated_at = now
            return tool.config_version

    def record_health(self, tool_id: int, health: str, detail: str | None) -> None:
        with self._tx() as s:
            s.add(HealthEventRow(tool_id=tool_id, at=time.time(), health=health, detail=detail))

    def health_history(self, tool_id: int, limit: int = 100) -> list[HealthEventRecord]:
        with self._tx() as s:
            rows = s.scalars(
                select(HealthEventRow)
                .where(HealthEventRow.tool_id == tool_id)
                .order_by(HealthEventRow.id.desc())
                .limit(limit)
            )
            return [view_of(HealthEventRecord, r) for r in rows]

    def last_health_checks(self) -> dict[int, float]:
        """When each tool's health was last recorded, by tool id, in one query."""
        with self._tx() as s:
            rows = s.execute(
                select(HealthEventRow.tool_id, func.max(HealthEventRow.at)).group_by(
                    HealthEventRow.tool_id
                )
            )
            return {int(tool_id): float(at) for tool_id, at in rows}

    def last_health_states(self) -> dict[int, str]:
        """Each tool's last recorded health (``healthy``/``unhealthy``), by tool id."""
        latest = (
            select(HealthEventRow.tool_id, func.max(HealthEventRow.id).label("last"))
            .group_by(HealthEventRow.tool_id)
            .subquery()
        )
        with self._tx() as s:
            rows = s.execute(
                select(HealthEventRow.tool_id, HealthEventRow.health).join(
                    latest, HealthEventRow.id == latest.c.last
                )
            )
            return {int(tool_id): str(health) for tool_id, health in rows}

    def delete_tool(self, tool_id: int) -> None:
        with self._tx() as s:
            s.execute(delete(HealthEventRow).where(HealthEventRow.tool_id == tool_id))
            # A tool's own notification channels go with it (instance ones stay).
            delete_channels(s, NotifyChannelRow.tool_id == tool_id)
            s.execute(delete(ConfigRow).where(ConfigRow.tool_id == tool_id))
            s.execute(delete(ToolDomainRow).where(ToolDomainRow.tool_id == tool_id))
            s.execute(delete(ReleaseRow).where(ReleaseRow.tool_id == tool_id))
            s.execute(delete(ToolRow).where(ToolRow.id == tool_id))

    @staticmethod
    def _tool_view(row: ToolRow) -> ToolRecord:
        return view_of(ToolRecord, row)

    def tools_with_current_release(
        self, status: str | None = None
    ) -> list[tuple[ToolRecord, ReleaseRecord]]:
        """Every tool (of ``status``) with its current release, in one query (the monitor
        asks this of many tools every round)."""
        with self._tx() as s:
            query = (
                select(ToolRow, ReleaseRow)
                .join(ReleaseRow, ReleaseRow.id == ToolRow.current_release_id)
                .order_by(ToolRow.name)
            )
            if status is not None:
                query = query.where(ToolRow.status == status)
            return [
                (self._tool_view(tool), view_of(ReleaseRecord, release))
                for tool, release in s.execute(query).all()
            ]

    def listing(
        self, building_kinds: tuple[str, ...]
    ) -> tuple[list[ToolRecord], dict[int, ReleaseRecord], set[str]]:
        """What a listing of every tool needs, in three queries whatever the number of tools:
        the tools, their current releases by tool id, and the names of tools with a running
        operation of one of ``building_kinds``."""
        with self._tx() as s:
            tools = [self._tool_view(r) for r in s.scalars(select(ToolRow).order_by(ToolRow.name))]
            current = {
                r.tool_id: view_of(ReleaseRecord, r)
                for r in s.scalars(
                    select(ReleaseRow).join(ToolRow, ToolRow.current_release_id == ReleaseRow.id)
                )
            }
            building = set(
                s.scalars(
                    select(OperationRow.tool_name).where(
                        OperationRow.status == "running",
                        OperationRow.kind.in_(building_kinds),
                    )
                )
            )
        return tools, current, {b for b in building if b}
