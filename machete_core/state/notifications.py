"""Notification channels, the outbox and its send attempts."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import ColumnElement, delete, or_, select, update
from sqlalchemy.orm import Session

from machete_core.state.base import StoreBase, assign
from machete_core.state.models import NotifyAttemptRow, NotifyChannelRow, NotifyOutboxRow
from machete_core.state.notification_views import AttemptRecord, ChannelRecord, OutboxRecord
from machete_core.state.views import view_of

#: Sent or failed notifications kept per channel (``prune_outbox`` drops older ones).
KEPT = 500


def delete_channels(s: Session, which: ColumnElement[bool]) -> None:
    """Delete the channels ``which`` picks, with their outbox and its attempts (in ``s``'s
    transaction: a removed tool takes its own channels in the same one)."""
    channels = select(NotifyChannelRow.id).where(which)
    outbox = select(NotifyOutboxRow.id).where(NotifyOutboxRow.channel_id.in_(channels))
    s.execute(delete(NotifyAttemptRow).where(NotifyAttemptRow.outbox_id.in_(outbox)))
    s.execute(delete(NotifyOutboxRow).where(NotifyOutboxRow.channel_id.in_(channels)))
    s.execute(delete(NotifyChannelRow).where(which))


class NotificationStore(StoreBase):
    # -- channels ------------------------------------------------------------------------

    def add_channel(self, **fields: Any) -> ChannelRecord:
        events, tools = fields.pop("events", []), fields.pop("tools", [])
        row = NotifyChannelRow(
            events_json=json.dumps(sorted(events)),
            tools_json=json.dumps(sorted(tools)),
            created_at=time.time(),
            **fields,
        )
        with self._tx() as s:
            s.add(row)
            s.flush()
            return view_of(ChannelRecord, row)

    def channels(self, *, tool_id: int | None = None) -> list[ChannelRecord]:
        """Every channel; with ``tool_id``, those subscribed for that tool."""
        query = select(NotifyChannelRow).order_by(NotifyChannelRow.name)
        if tool_id is not None:
            query = query.where(NotifyChannelRow.tool_id == tool_id)
        with self._tx() as s:
            return [view_of(ChannelRecord, r) for r in s.scalars(query)]

    def find_channel(self, name: str) -> ChannelRecord | None:
        with self._tx() as s:
            row = s.scalar(select(NotifyChannelRow).where(NotifyChannelRow.name == name))
            return None if row is None else view_of(ChannelRecord, row)

    def update_channel(self, channel_id: int, **fields: Any) -> ChannelRecord:
        for name in ("events", "tools"):
            if name in fields:
                fields[f"{name}_json"] = json.dumps(sorted(fields.pop(name)))
        with self._tx() as s:
            row = s.get(NotifyChannelRow, channel_id)
            assert row is not None
            assign(row, fields)
            s.flush()
            return view_of(ChannelRecord, row)

    def delete_channel(self, channel_id: int) -> None:
        with self._tx() as s:
            delete_channels(s, NotifyChannelRow.id == channel_id)

    # -- the outbox ----------------------------------------------------------------------

    def enqueue(self, channel_id: int, kind: str, tool: str | None, payload: dict[str, Any]) -> int:
        """One notification outside any event (a channel's test)."""
        now = time.time()
        with self._tx() as s:
            row = NotifyOutboxRow(
                channel_id=channel_id,
                kind=kind,
                tool=tool,
                payload_json=json.dumps(payload, default=str),
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
            s.add(row)
            s.flush()
            return int(row.id)

    def claim_due(self, now: float, lease: float, limit: int) -> list[OutboxRecord]:
        """Pending notifications due by ``now``, each taken for ``lease`` seconds by this
        caller alone (a conditional update: of racing servers, one takes each)."""
        with self._tx() as s:
            ids = list(
                s.scalars(
                    select(NotifyOutboxRow.id)
                    .where(
                        NotifyOutboxRow.status == "pending",
                        NotifyOutboxRow.next_attempt_at <= now,
                        or_(
                            NotifyOutboxRow.claimed_until.is_(None),
                            NotifyOutboxRow.claimed_until < now,
                        ),
                    )
                    .order_by(NotifyOutboxRow.next_attempt_at)
                    .limit(limit)
                )
            )
        taken = []
        for outbox_id in ids:
            with self._tx() as s:
                result = s.execute(
                    update(NotifyOutboxRow)
                    .where(
                        NotifyOutboxRow.id == outbox_id,
                        NotifyOutboxRow.status == "pending",
                        or_(
                            NotifyOutboxRow.claimed_until.is_(None),
                            NotifyOutboxRow.claimed_until < now,
                        ),
                    )
                    .values(claimed_until=now + lease)
                )
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    row = s.get(NotifyOutboxRow, outbox_id)
                    assert row is not None
                    taken.append(view_of(OutboxRecord, row))
        return taken

    def record_attempt(
        self,
        outbox_id: int,
        *,
        at: float,
        ok: bool,
        seconds: float,
        status_code: int | None = None,
        error: str | None = None,
        next_attempt_at: float | None = None,
    ) -> OutboxRecord:
        """Keep one attempt; the notification is then sent, due again at
        ``next_attempt_at``, or (neither) failed for good."""
        with self._tx() as s:
            s.add(
                NotifyAttemptRow(
                    outbox_id=outbox_id,
                    at=at,
                    ok=ok,
                    status_code=status_code,
                    error=error,
                    seconds=seconds,
                )
            )
            row = s.get(NotifyOutboxRow, outbox_id)
            assert row is not None
            row.attempts += 1
            row.claimed_until = None
            if ok:
                row.status, row.sent_at, row.last_error = "sent", at, None
            else:
                row.last_error = error
                if next_attempt_at is None:
                    row.status = "failed"
                else:
                    row.next_attempt_at = next_attempt_at
            s.flush()
            return view_of(OutboxRecord, row)

    def outbox(self, channel_id: int, limit: int = 50) -> list[OutboxRecord]:
        with self._tx() as s:
            rows = s.scalars(
                select(NotifyOutboxRow)
                .where(NotifyOutboxRow.channel_id == channel_id)
                .order_by(NotifyOutboxRow.id.desc())
                .limit(limit)
            )
            return [view_of(OutboxRecord, r) for r in rows]

    def attempts(self, outbox_id: int) -> list[AttemptRecord]:
        with self._tx() as s:
            rows = s.scalars(
                select(NotifyAttemptRow)
                .where(NotifyAttemptRow.outbox_id == outbox_id)
                .order_by(NotifyAttemptRow.id)
            )
            return [view_of(AttemptRecord, r) for r in rows]

    def prune_outbox(self, kept: int = KEPT) -> int:
        """Drop each channel's sent and failed notifications beyond its ``kept`` newest
        (pending ones always stay); returns how many went."""
        gone = 0
        with self._tx() as s:
            for channel_id in list(s.scalars(select(NotifyChannelRow.id))):
                done = (
                    select(NotifyOutboxRow.id)
                    .where(
                        NotifyOutboxRow.channel_id == channel_id,
                        NotifyOutboxRow.status != "pending",
                    )
                    .order_by(NotifyOutboxRow.id.desc())
                    .offset(kept)
                )
                old = list(s.scalars(done))
                if old:
                    s.execute(delete(NotifyAttemptRow).where(NotifyAttemptRow.outbox_id.in_(old)))
                    s.execute(delete(NotifyOutboxRow).where(NotifyOutboxRow.id.in_(old)))
                    gone += len(old)
        return gone

    def notified(self, dedupe_key: str, since: float) -> bool:
        """Was a notification with this key written since ``since`` (any channel)?"""
        with self._tx() as s:
            return (
                s.scalar(
                    select(NotifyOutboxRow.id)
                    .where(
                        NotifyOutboxRow.dedupe_key == dedupe_key,
                        NotifyOutboxRow.created_at > since,
                    )
                    .limit(1)
                )
                is not None
            )
