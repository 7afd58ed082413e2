"""Lifecycle events of every process, for the hosts' streams."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import delete, func, select

from machete_core.domain.operations import SYSTEM
from machete_core.domain.records import Event
from machete_core.state.base import StoreBase
from machete_core.state.models import EventRow, NotifyOutboxRow
from machete_core.state.notification_views import NewNotification
from machete_core.state.views import (
    EventRecord,
    view_of,
)


class EventStore(StoreBase):
    def append_event(self, event: Event, notifications: Sequence[NewNotification] = ()) -> int:
        """Record ``event`` and, in the same transaction, the notifications it causes (the
        outbox): a crash can lose neither one without the other."""
        actor = event.actor or SYSTEM
        with self._tx() as s:
            for note in notifications:
                if note.dedupe_key and s.scalar(
                    select(NotifyOutboxRow.id)
                    .where(
                        NotifyOutboxRow.channel_id == note.channel_id,
                        NotifyOutboxRow.dedupe_key == note.dedupe_key,
                        NotifyOutboxRow.created_at > event.at - note.window,
                    )
                    .limit(1)
                ):
                    continue  # told within the window: a repeat is suppressed
                s.add(
                    NotifyOutboxRow(
                        channel_id=note.channel_id,
                        kind=note.kind,
                        tool=note.tool,
                        payload_json=json.dumps(note.payload, default=str),
                        dedupe_key=note.dedupe_key,
                        status="pending",
                        attempts=0,
                        next_attempt_at=event.at,
                        created_at=event.at,
                    )
                )
            row = EventRow(
                kind=event.kind,
                tool=event.tool,
                operation_id=event.operation_id,
                data_json=json.dumps(dict(event.data), default=str),
                at=event.at,
                actor_kind=actor.kind.value,
                actor_id=actor.id,
                actor_name=actor.name,
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

    def operation_events(self, op_id: str, after_id: int, limit: int = 500) -> list[EventRecord]:
        """One operation's events with an id above ``after_id``, oldest first."""
        with self._tx() as s:
            rows = s.scalars(
                select(EventRow)
                .where(EventRow.operation_id == op_id, EventRow.id > after_id)
                .order_by(EventRow.id)
                .limit(limit)
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
