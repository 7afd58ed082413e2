"""What the store returns about notification channels, the outbox and send attempts."""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen
class ChannelRecord:
    id: int
    name: str
    kind: str
    target_sealed: str = attrs.field(repr=False)
    target_hint: str
    secret_sealed: str | None = attrs.field(repr=False)
    events: list[str]
    tools: list[str]
    tool_id: int | None
    enabled: bool
    created_at: float
    created_by: str


@attrs.frozen
class OutboxRecord:
    id: int
    channel_id: int
    kind: str
    tool: str | None
    payload: dict[str, Any]
    dedupe_key: str | None
    status: str
    attempts: int
    next_attempt_at: float
    created_at: float
    sent_at: float | None
    last_error: str | None


@attrs.frozen
class AttemptRecord:
    id: int
    outbox_id: int
    at: float
    ok: bool
    status_code: int | None
    error: str | None
    seconds: float


@attrs.frozen
class NewNotification:
    """An outbox row to write with an event (see ``EventStore.append_event``)."""

    channel_id: int
    kind: str
    tool: str | None
    payload: dict[str, Any]
    #: Skip it when the channel got one with this key within ``window`` seconds.
    dedupe_key: str | None = None
    window: float = 0.0
