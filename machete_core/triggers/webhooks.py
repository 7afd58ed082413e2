"""A tool's push webhook: managing it (enable, disable, rotate its secret, show, deliveries)
and receiving deliveries.

A delivery is checked in this order: the host has already refused an oversized body; then the
hook id (unknown or disabled: ``hook_not_found``), then the signature over the raw body with
the secret (or the previous one during its grace period), and only then is the body parsed.
A verified push of the tracked branch (or of the tag the tool tracks) submits a deploy, which
resolves the branch's head itself: a replayed old payload deploys what is current, which is
a no-op when it already runs. A push while the tool is busy queues one deploy behind it
(``triggers.polling.run_queued`` starts it); more pushes meanwhile are coalesced into it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping

import attrs

from machete_core.access.guard import Guard
from machete_core.access.principal import ANONYMOUS, Principal
from machete_core.context import Core
from machete_core.domain.operations import Actor, ActorKind, OperationKind
from machete_core.errors import (
    BadSignatureError,
    HookNotFoundError,
    InvalidInputError,
    ToolBusyError,
)
from machete_core.pipeline.submit import operation_params, submit_change
from machete_core.state.trigger_views import DeliveryRecord, TriggerRecord
from machete_core.state.views import OperationRecord, ToolRecord
from machete_core.triggers import providers

SECRET_PREFIX = "whsec_"
#: How long the previous secret stays good after a rotation, by default.
GRACE_S = 3600
MAX_GRACE_S = 7 * 86400


@attrs.frozen
class HookView:
    """A tool's webhook and polling, as shown (never the secret)."""

    tool: str
    hook_id: str
    #: The delivery URL's path (``/api/hooks/<hook_id>``), under the server's public URL.
    path: str
    enabled: bool
    #: Until when the previous secret is still accepted (after a rotation).
    previous_until: float | None
    poll_seconds: int | None
    polled_at: float | None
    deploy_queued: bool
    updated_at: float


@attrs.frozen
class HookSecret:
    """A new secret: shown here once, stored only sealed."""

    hook: HookView
    secret: str = attrs.field(repr=False)


@attrs.frozen
class Received:
    """What came of a delivery: its outcome, the HTTP status to answer and the operation."""

    outcome: str
    status: int
    message: str
    operation_id: str | None = None


def deploy_as(core: Core, tool_id: int, actor: Actor) -> OperationRecord:
    """Submit a deploy for a trigger (a verified push, a poll): it needs no person's right,
    and names the trigger as its actor."""
    params = operation_params(OperationKind.DEPLOY, {})
    return submit_change(core, OperationKind.DEPLOY, tool_id, params, actor)


def new_hook_id() -> str:
    return secrets.token_urlsafe(18)


def tracks(tool_ref: str | None, pushed: str, default_branch: str | None) -> bool:
    """Whether a push of ``pushed`` concerns a tool following ``tool_ref`` (None: the
    repository's default branch)."""
    wanted = (tool_ref or "").removeprefix("refs/heads/")
    if pushed.startswith("refs/heads/"):
        return pushed.removeprefix("refs/heads/") == (wanted or default_branch)
    if pushed.startswith("refs/tags/") and tool_ref:
        return pushed.removeprefix("refs/tags/") == tool_ref.removeprefix("refs/tags/")
    return False


class Webhooks:
    """``Machete.hooks``: the calls of one principal (managing needs ``tools.hooks``)."""

    def __init__(self, core: Core, principal: Principal) -> None:
        self._core = core
        self._guard = Guard(core, principal)

    # -- managing --------------------------------------------------------------------------

    def _view(self, tool: ToolRecord, trigger: TriggerRecord) -> HookView:
        return HookView(
            tool=tool.name,
            hook_id=trigger.hook_id,
            path=f"/api/hooks/{trigger.hook_id}",
            enabled=trigger.hook_enabled,
            previous_until=trigger.previous_until,
            poll_seconds=trigger.poll_seconds,
            polled_at=trigger.polled_at,
            deploy_queued=trigger.deploy_queued,
            updated_at=trigger.updated_at,
        )

    def show(self, tool: str | int) -> HookView | None:
        """The tool's webhook and polling settings; None when neither was ever set."""
        record = self._guard.tool("tools.hooks", tool)
        trigger = self._core.store.trigger(record.id)
        return None if trigger is None else self._view(record, trigger)

    def enable(self, tool: str | int) -> HookSecret | HookView:
        """Turn the webhook on. The first time it makes the secret (returned once); after a
        ``disable`` the same id and secret work again (rotate for a new one)."""
        record = self._guard.tool("tools.hooks", tool)
        with self._guard.audited("tools.hooks.enable", record.name):
            trigger = self._core.store.trigger(record.id)
            if trigger is not None and trigger.secret_sealed is not None:
                saved = self._core.store.save_trigger(record.id, new_hook_id(), hook_enabled=True)
                return self._view(record, saved)
            secret = SECRET_PREFIX + secrets.token_urlsafe(32)
            saved = self._core.store.save_trigger(
                record.id,
                new_hook_id(),
                hook_enabled=True,
                secret_sealed=self._core.secrets.seal({"secret": secret}),
            )
            return HookSecret(self._view(record, saved), secret)

    def disable(self, tool: str | int) -> HookView:
        record = self._guard.tool("tools.hooks", tool)
        with self._guard.audited("tools.hooks.disable", record.name):
            saved = self._core.store.save_trigger(record.id, new_hook_id(), hook_enabled=False)
            return self._view(record, saved)

    def rotate(self, tool: str | int, grace: int = GRACE_S) -> HookSecret:
        """A new secret; the old one is still accepted for ``grace`` seconds (0: not at all),
        long enough to change it at the Git host."""
        if not 0 <= grace <= MAX_GRACE_S:
            raise InvalidInputError(
                f"the grace period is 0 to {MAX_GRACE_S} seconds", details={"path": "grace"}
            )
        record = self._guard.tool("tools.hooks", tool)
        with self._guard.audited("tools.hooks.rotate", record.name):
            trigger = self._core.store.trigger(record.id)
            old = trigger.secret_sealed if trigger is not None else None
            secret = SECRET_PREFIX + secrets.token_urlsafe(32)
            saved = self._core.store.save_trigger(
                record.id,
                new_hook_id(),
                secret_sealed=self._core.secrets.seal({"secret": secret}),
                previous_sealed=old if grace else None,
                previous_until=time.time() + grace if old and grace else None,
            )
            return HookSecret(self._view(record, saved), secret)

    def set_poll(self, tool: str | int, seconds: int | None) -> HookView:
        """Poll the tool's source every ``seconds`` (60 to 86400) and deploy what changed;
        None turns polling off."""
        if seconds is not None and not 60 <= seconds <= 86400:
            raise InvalidInputError(
                "poll every 60 to 86400 seconds (or off)", details={"path": "poll"}
            )
        record = self._guard.tool("tools.hooks", tool)
        with self._guard.audited("tools.hooks.poll", record.name):
            saved = self._core.store.save_trigger(record.id, new_hook_id(), poll_seconds=seconds)
            return self._view(record, saved)

    def deliveries(self, tool: str | int, limit: int = 50) -> list[DeliveryRecord]:
        record = self._guard.tool("tools.hooks", tool)
        return self._core.store.deliveries(record.id, limit)

    # -- receiving -------------------------------------------------------------------------

    def receive(
        self, hook_id: str, headers: Mapping[str, str], body: bytes, address: str | None = None
    ) -> tuple[Received, OperationRecord | None]:
        """Handle one delivery; the operation returned (if any) is for the host to run."""
        store = self._core.store
        trigger = store.trigger_by_hook(hook_id)
        tool = store.find_tool(trigger.tool_id) if trigger is not None else None
        if trigger is None or tool is None or not trigger.hook_enabled:
            raise HookNotFoundError("no webhook here")
        lowered = {k.lower(): v for k, v in headers.items()}
        provider = providers.detect(lowered)
        if provider is None or not self._signed(trigger, provider, lowered, body):
            self._refuse(tool, provider, lowered, address)
        assert provider is not None
        delivery = providers.read(provider, lowered, body)
        received = self._decide(tool, delivery)
        record = store.add_delivery(
            tool_id=tool.id,
            at=time.time(),
            provider=delivery.provider,
            delivery_id=delivery.delivery_id,
            event=delivery.event,
            ref=delivery.ref,
            outcome=received.outcome,
            detail=received.message,
            address=address,
        )
        if record is None:
            earlier = store.delivery_by_id(tool.id, delivery.delivery_id or "")
            return (
                Received(
                    "duplicate",
                    200,
                    "this delivery was received before",
                    earlier.operation_id if earlier else None,
                ),
                None,
            )
        if received.outcome != "deploy":
            return received, None
        final, op = self._deploy(tool, hook_id, delivery)
        store.set_delivery_outcome(
            record.id, outcome=final.outcome, detail=final.message, operation_id=final.operation_id
        )
        return final, op

    def _signed(
        self,
        trigger: TriggerRecord,
        provider: providers.Provider,
        headers: Mapping[str, str],
        body: bytes,
    ) -> bool:
        sealed = [trigger.secret_sealed]
        if trigger.previous_until is not None and trigger.previous_until > time.time():
            sealed.append(trigger.previous_sealed)
        for box in sealed:
            if box is not None:
                secret = str(self._core.secrets.open(box)["secret"])
                if providers.verify(provider, headers, body, secret):
                    return True
        return False

    def _refuse(
        self,
        tool: ToolRecord,
        provider: providers.Provider | None,
        headers: Mapping[str, str],
        address: str | None,
    ) -> None:
        name = provider.name if provider else "unknown"
        event = headers.get(provider.event_header, "") if provider else ""
        self._core.store.add_delivery(
            tool_id=tool.id,
            at=time.time(),
            provider=name,
            delivery_id=None,  # unverified: never lets a forger burn a real delivery id
            event=event[:64] or "unknown",
            ref=None,
            outcome="bad_signature",
            detail="the signature does not match the tool's secret",
            address=address,
        )
        self._core.access.auditor.record(
            attrs.evolve(ANONYMOUS, address=address),
            "tools.hooks.deliver",
            tool=tool.name,
            outcome="denied",
            reason=f"bad_signature: a {name} delivery not signed with the tool's secret",
        )
        # People are told (notifications), repeats of one tool suppressed for a while.
        self._core.events.publish(
            "hook.bad_signature", tool=tool.name, provider=name, address=address
        )
        raise BadSignatureError("the delivery's signature does not match the webhook's secret")

    @staticmethod
    def _decide(tool: ToolRecord, delivery: providers.Delivery) -> Received:
        if delivery.event == "ping":
            return Received("ping", 200, "pong")
        if delivery.event != "push":
            return Received("ignored", 200, f"{delivery.event} events do not deploy")
        if delivery.deleted:
            return Received("ignored", 200, f"{delivery.ref} was deleted: deletions never deploy")
        if not tool.enabled:
            return Received("ignored", 200, f"{tool.name} is disabled (machete set --enabled)")
        if not delivery.ref or not tracks(tool.source_ref, delivery.ref, delivery.default_branch):
            followed = tool.source_ref or "the default branch"
            return Received(
                "ignored", 200, f"{delivery.ref} is not what {tool.name} follows ({followed})"
            )
        return Received("deploy", 202, "")

    def _deploy(
        self, tool: ToolRecord, hook_id: str, delivery: providers.Delivery
    ) -> tuple[Received, OperationRecord | None]:
        actor = Actor(ActorKind.WEBHOOK, hook_id, f"{delivery.provider} push")
        try:
            op = deploy_as(self._core, tool.id, actor)
        except ToolBusyError as busy:
            running = str(busy.details.get("operation", "")) or None
            if self._core.store.queue_deploy(tool.id):
                return Received(
                    "queued", 202, "a deploy runs when the current one ends", running
                ), None
            return Received("coalesced", 202, "a deploy is queued already", running), None
        return Received("deployed", 202, f"deploying {delivery.ref}", op.id), op
