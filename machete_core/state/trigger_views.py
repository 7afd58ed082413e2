"""What the store returns about deploy triggers (webhooks, polling) and webhook deliveries."""

from __future__ import annotations

import attrs


@attrs.frozen
class TriggerRecord:
    tool_id: int
    hook_id: str
    hook_enabled: bool
    secret_sealed: str | None = attrs.field(repr=False)
    previous_sealed: str | None = attrs.field(repr=False)
    previous_until: float | None
    poll_seconds: int | None
    polled_at: float | None
    polled_revision: str | None
    deploy_queued: bool
    created_at: float
    updated_at: float


@attrs.frozen
class DeliveryRecord:
    id: int
    tool_id: int
    at: float
    provider: str
    delivery_id: str | None
    event: str
    ref: str | None
    outcome: str
    detail: str | None
    operation_id: str | None
    address: str | None
