"""Deploy triggers (a tool's webhook and polling) and the log of webhook deliveries."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from machete_core.state.base import StoreBase, assign
from machete_core.state.models import DeployTriggerRow, HookDeliveryRow
from machete_core.state.trigger_views import DeliveryRecord, TriggerRecord
from machete_core.state.views import view_of

#: Deliveries kept per tool (older ones go as new ones come).
DELIVERIES_KEPT = 500


class TriggerStore(StoreBase):
    def trigger(self, tool_id: int) -> TriggerRecord | None:
        with self._tx() as s:
            row = s.get(DeployTriggerRow, tool_id)
            return None if row is None else view_of(TriggerRecord, row)

    def trigger_by_hook(self, hook_id: str) -> TriggerRecord | None:
        with self._tx() as s:
            row = s.scalar(select(DeployTriggerRow).where(DeployTriggerRow.hook_id == hook_id))
            return None if row is None else view_of(TriggerRecord, row)

    def save_trigger(self, tool_id: int, new_hook_id: str, **fields: Any) -> TriggerRecord:
        """Change the tool's trigger row, making it (with ``new_hook_id``) if it has none."""
        now = time.time()
        with self._tx() as s:
            row = s.get(DeployTriggerRow, tool_id, with_for_update=True)
            if row is None:
                row = DeployTriggerRow(
                    tool_id=tool_id,
                    hook_id=new_hook_id,
                    hook_enabled=False,
                    deploy_queued=False,
                    created_at=now,
                    updated_at=now,
                )
                s.add(row)
            assign(row, {**fields, "updated_at": now})
            s.flush()
            return view_of(TriggerRecord, row)

    def queue_deploy(self, tool_id: int) -> bool:
        """Mark a deploy to run when the tool is free; False if one was queued already."""
        return self._set_queued(tool_id, True)

    def take_queued(self, tool_id: int) -> bool:
        """Clear the tool's queued deploy; True for the one caller that cleared it."""
        return self._set_queued(tool_id, False)

    def _set_queued(self, tool_id: int, queued: bool) -> bool:
        """Flip the flag only from its other value: of racing callers (servers), one wins."""
        with self._tx() as s:
            done = s.execute(
                update(DeployTriggerRow)
                .where(
                    DeployTriggerRow.tool_id == tool_id,
                    DeployTriggerRow.deploy_queued.is_(not queued),
                )
                .values(deploy_queued=queued, updated_at=time.time())
            )
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def queued_deploys(self) -> list[int]:
        with self._tx() as s:
            return list(
                s.scalars(
                    select(DeployTriggerRow.tool_id).where(DeployTriggerRow.deploy_queued.is_(True))
                )
            )

    def polled_triggers(self) -> list[TriggerRecord]:
        with self._tx() as s:
            rows = s.scalars(
                select(DeployTriggerRow).where(DeployTriggerRow.poll_seconds.is_not(None))
            )
            return [view_of(TriggerRecord, r) for r in rows]

    def claim_poll(self, tool_id: int, due_before: float, now: float) -> bool:
        """Take the tool's poll (its last one was before ``due_before``): one server polls."""
        with self._tx() as s:
            done = s.execute(
                update(DeployTriggerRow)
                .where(
                    DeployTriggerRow.tool_id == tool_id,
                    (DeployTriggerRow.polled_at.is_(None))
                    | (DeployTriggerRow.polled_at < due_before),
                )
                .values(polled_at=now)
            )
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def add_delivery(self, **fields: Any) -> DeliveryRecord | None:
        """Record a delivery; None when the tool saw its delivery id before."""
        try:
            with self._tx() as s:
                row = HookDeliveryRow(**fields)
                s.add(row)
                s.flush()
                record = view_of(DeliveryRecord, row)
                old = (
                    select(HookDeliveryRow.id)
                    .where(HookDeliveryRow.tool_id == fields["tool_id"])
                    .order_by(HookDeliveryRow.id.desc())
                    .offset(DELIVERIES_KEPT)
                )
                s.execute(delete(HookDeliveryRow).where(HookDeliveryRow.id.in_(old)))
                return record
        except IntegrityError:
            return None

    def delivery_by_id(self, tool_id: int, delivery_id: str) -> DeliveryRecord | None:
        with self._tx() as s:
            row = s.scalar(
                select(HookDeliveryRow).where(
                    HookDeliveryRow.tool_id == tool_id, HookDeliveryRow.delivery_id == delivery_id
                )
            )
            return None if row is None else view_of(DeliveryRecord, row)

    def set_delivery_outcome(self, delivery: int, **fields: Any) -> None:
        with self._tx() as s:
            row = s.get(HookDeliveryRow, delivery)
            if row is not None:
                assign(row, fields)

    def deliveries(self, tool_id: int, limit: int = 50) -> list[DeliveryRecord]:
        with self._tx() as s:
            rows = s.scalars(
                select(HookDeliveryRow)
                .where(HookDeliveryRow.tool_id == tool_id)
                .order_by(HookDeliveryRow.id.desc())
                .limit(limit)
            )
            return [view_of(DeliveryRecord, r) for r in rows]
