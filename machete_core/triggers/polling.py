"""Deploys that happen later: a push's deploy queued behind a busy tool, and polling of a
tool's source for hosts that cannot send webhooks.

A host calls :meth:`Triggers.round` every few seconds (the web server does; several servers on
one database agree through the store, so each queued deploy and each due poll is taken by one).
Polls use the source's cheap ``resolve`` (one ``ls-remote``), are spread over the interval by
a fixed offset per tool, and at most ``per_round`` run per round, so a thousand polled tools
never fire at once; a revision is deployed once, even when that deploy failed.
"""

from __future__ import annotations

import hashlib
import logging
import time

from machete_core.context import Core
from machete_core.domain.operations import Actor, ActorKind
from machete_core.domain.records import Locator
from machete_core.errors import MacheteError, ToolBusyError
from machete_core.state.trigger_views import TriggerRecord
from machete_core.state.views import OperationRecord
from machete_core.triggers.webhooks import deploy_as

log = logging.getLogger(__name__)
PER_ROUND = 8


def offset(trigger: TriggerRecord) -> int:
    """A fixed spot in the interval for this tool (its first poll waits until then)."""
    assert trigger.poll_seconds
    digest = hashlib.sha256(trigger.hook_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") % trigger.poll_seconds


def due_at(trigger: TriggerRecord) -> float:
    assert trigger.poll_seconds
    if trigger.polled_at is None:
        return trigger.created_at + offset(trigger)
    return trigger.polled_at + trigger.poll_seconds


class Triggers:
    def __init__(self, core: Core, per_round: int = PER_ROUND) -> None:
        self._core = core
        self._per_round = per_round

    def round(self, now: float | None = None) -> list[OperationRecord]:
        """Start queued deploys whose tool is free and poll the tools that are due; the
        operations returned are for the host to run."""
        now = time.time() if now is None else now
        return [*self.run_queued(), *self.poll_due(now)]

    def run_queued(self) -> list[OperationRecord]:
        store = self._core.store
        started = []
        for tool_id in store.queued_deploys():
            if not store.take_queued(tool_id):
                continue  # another server took it
            trigger = store.trigger(tool_id)
            actor = Actor(ActorKind.WEBHOOK, trigger.hook_id if trigger else "", "queued push")
            try:
                started.append(deploy_as(self._core, tool_id, actor))
            except ToolBusyError:
                store.queue_deploy(tool_id)  # still busy: wait for the next round
            except MacheteError as exc:  # removed meanwhile, or disabled
                log.info("a queued deploy of tool %s was dropped: %s", tool_id, exc.message)
        return started

    def poll_due(self, now: float) -> list[OperationRecord]:
        store = self._core.store
        due = sorted((t for t in store.polled_triggers() if due_at(t) <= now), key=due_at)[
            : self._per_round
        ]
        started = []
        for trigger in due:
            assert trigger.poll_seconds
            if not store.claim_poll(trigger.tool_id, now - trigger.poll_seconds + 1, now):
                continue  # another server polled it within the interval
            try:
                op = self.poll(trigger)
            except MacheteError as exc:
                log.warning("polling tool %s failed: %s", trigger.tool_id, exc.message)
                continue
            if op is not None:
                started.append(op)
        return started

    def poll(self, trigger: TriggerRecord) -> OperationRecord | None:
        """Resolve the tool's ref; submit a deploy if it moved to a revision not seen yet."""
        core = self._core
        store = core.store
        tool = store.find_tool(trigger.tool_id)
        if tool is None or not tool.enabled:
            return None
        source = core.source(tool.source_kind)
        locator = Locator(
            url=tool.source_url,
            ref=tool.source_ref,
            kind=tool.source_kind,
            credentials=core.source_credentials(tool.source_credentials),
        )
        upstream = source.resolve(locator)
        current = store.get_release(tool.current_release_id) if tool.current_release_id else None
        if upstream is None or upstream == trigger.polled_revision:
            return None
        store.save_trigger(tool.id, trigger.hook_id, polled_revision=upstream)
        if current is not None and current.commit == upstream:
            return None
        actor = Actor(ActorKind.SYSTEM, "poll", "source poll")
        try:
            return deploy_as(core, tool.id, actor)
        except ToolBusyError:
            store.queue_deploy(tool.id)
            return None
