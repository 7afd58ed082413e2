"""The repository layer: every database read and write of the core goes through :class:`Store`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, delete, event, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from machete_core.errors import (
    OperationNotFoundError,
    ToolBusyError,
    ToolExistsError,
    ToolNotFoundError,
)
from machete_core.state.db import make_engine, migrate
from machete_core.state.models import (
    ConfigRow,
    EventRow,
    HealthEventRow,
    LockRow,
    OperationRow,
    ReleaseRow,
    StepRow,
    ToolRow,
)
from machete_core.state.views import (
    ConfigRecord,
    EventRecord,
    HealthEventRecord,
    OperationRecord,
    ReleaseRecord,
    StepRecord,
    ToolRecord,
    view_of,
)


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        #: Bumped by every write through this store (caches of views compare it).
        self.generation = 0
        event.listen(self._sessions, "after_flush", self._written)
        event.listen(self._sessions, "do_orm_execute", self._maybe_written)

    def _written(self, *_args: Any) -> None:
        self.generation += 1

    def _maybe_written(self, state: Any) -> None:
        if state.is_insert or state.is_update or state.is_delete:
            self.generation += 1

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect and apply migrations."""
        engine = make_engine(url)
        migrate(engine)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    # -- tools ---------------------------------------------------------------------------

    def create_tool(self, **fields: Any) -> ToolRecord:
        now = time.time()
        spec = fields.pop("spec", {})
        row = ToolRow(spec_json=json.dumps(spec), created_at=now, updated_at=now, **fields)
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
            if "spec" in fields:
                row.spec_json = json.dumps(fields.pop("spec"))
            for key, value in fields.items():
                setattr(row, key, value)
            row.updated_at = time.time()
            return self._tool_view(row)

    def config(self, tool_id: int) -> list[ConfigRecord]:
        with self._tx() as s:
            rows = s.scalars(
                select(ConfigRow).where(ConfigRow.tool_id == tool_id).order_by(ConfigRow.key)
            )
            return [view_of(ConfigRecord, r) for r in rows]

    def change_config(
        self, tool_id: int, set_values: dict[str, tuple[str, bool]], unset: list[str]
    ) -> int:
        """Apply a change in one transaction; returns the tool's new config version."""
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
                            tool_id=tool_id, key=key, value=value, secret=secret, updated_at=now
                        )
                    )
                else:
                    row.value, row.secret, row.updated_at = value, secret, now
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

    def delete_tool(self, tool_id: int) -> None:
        with self._tx() as s:
            s.execute(delete(HealthEventRow).where(HealthEventRow.tool_id == tool_id))
            s.execute(delete(ConfigRow).where(ConfigRow.tool_id == tool_id))
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

    # -- releases ------------------------------------------------------------------------

    def create_release(self, tool_id: int, **fields: Any) -> ReleaseRecord:
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
            for key, value in fields.items():
                setattr(row, key, value)
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

    # -- locks ---------------------------------------------------------------------------

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

    # -- events --------------------------------------------------------------------------

    def append_event(
        self, kind: str, tool: str | None, operation_id: str | None, data: dict[str, Any], at: float
    ) -> int:
        with self._tx() as s:
            row = EventRow(
                kind=kind,
                tool=tool,
                operation_id=operation_id,
                data_json=json.dumps(data, default=str),
                at=at,
            )
            s.add(row)
            s.flush()
            return row.id

    def events_after(self, after_id: int, limit: int = 500) -> list[EventRecord]:
        """Events with an id above ``after_id``, oldest first (for followers)."""
        with self._tx() as s:
            rows = s.scalars(
                select(EventRow).where(EventRow.id > after_id).order_by(EventRow.id).limit(limit)
            )
            return [view_of(EventRecord, r) for r in rows]

    def recent_events(self, limit: int = 50, tool: str | None = None) -> list[EventRecord]:
        """The newest events, oldest first."""
        with self._tx() as s:
            query = select(EventRow).order_by(EventRow.id.desc()).limit(limit)
            if tool is not None:
                query = query.where(EventRow.tool == tool)
            return [view_of(EventRecord, r) for r in reversed(list(s.scalars(query)))]

    def last_event_id(self) -> int:
        with self._tx() as s:
            return int(s.scalar(select(func.max(EventRow.id))) or 0)

    def prune_events(self, keep: int) -> int:
        """Delete all but the newest ``keep`` events; returns how many went."""
        with self._tx() as s:
            newest = s.scalar(select(func.max(EventRow.id))) or 0
            result = s.execute(delete(EventRow).where(EventRow.id <= newest - keep))
            return int(getattr(result, "rowcount", 0) or 0)

    # -- operations ----------------------------------------------------------------------

    def create_operation(
        self, *, exclusive_kinds: tuple[str, ...] = (), **fields: Any
    ) -> OperationRecord:
        """Record a new pending operation.

        With ``exclusive_kinds``, the check that no other such operation of the same tool is
        unfinished happens in the same transaction as the insert (the tool's row is locked
        first), so two processes can never both start one.
        """
        params = fields.pop("params", {})
        row = OperationRow(
            params_json=json.dumps(params), status="pending", created_at=time.time(), **fields
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
            for key, value in fields.items():
                setattr(row, key, value)

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
