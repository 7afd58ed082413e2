"""``Machete.notifications``: channels of the instance (admins) and of one tool (its
maintainers), their tests and their deliveries."""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs

from machete_core.access.guard import Guard
from machete_core.access.principal import Principal
from machete_core.domain.naming import is_valid_name
from machete_core.errors import (
    ChannelExistsError,
    ChannelNotFoundError,
    ForbiddenError,
    InvalidInputError,
    ToolNotFoundError,
)
from machete_core.notify import transport
from machete_core.notify.kinds import CHANNEL_KINDS, NOTICES
from machete_core.notify.notices import Notice
from machete_core.state.notification_views import ChannelRecord

if TYPE_CHECKING:
    from machete_core.context import Core

#: Standard Webhooks' secret prefix (the base64 after it is the key).
SECRET_PREFIX = "whsec_"


@attrs.frozen
class ChannelView:
    name: str
    kind: str
    #: The target's scheme and host, or the e-mail address (a full URL may be a credential).
    target: str
    events: list[str]
    tools: list[str]
    #: The tool whose maintainers own it; None: an instance channel (admins').
    tool: str | None
    enabled: bool
    created_at: float
    created_by: str


@attrs.frozen
class ChannelAdded:
    channel: ChannelView
    #: A webhook channel's signing secret, shown this once.
    secret: str | None = attrs.field(default=None, repr=False)


@attrs.frozen
class AttemptView:
    at: float
    ok: bool
    status_code: int | None
    error: str | None
    seconds: float


@attrs.frozen
class DeliveryView:
    id: int
    type: str
    tool: str | None
    title: str
    status: str
    attempts: int
    created_at: float
    sent_at: float | None
    next_attempt_at: float | None
    last_error: str | None
    tries: list[AttemptView]


class Notifications:
    def __init__(self, core: Core, principal: Principal) -> None:
        self._core = core
        self._guard = Guard(core, principal)
        self._principal = principal

    # -- reading ---------------------------------------------------------------------------

    def channels(self, tool: str | None = None) -> list[ChannelView]:
        """The instance's channels (admins), or those subscribed for ``tool``."""
        if tool is not None:
            record = self._guard.tool("tools.notifications", tool)
            return [self._view(c) for c in self._core.store.channels(tool_id=record.id)]
        self._guard.authorize("notifications.manage")
        return [self._view(c) for c in self._core.store.channels()]

    def get(self, name: str) -> ChannelView:
        return self._view(self._channel(name))

    def deliveries(self, name: str, limit: int = 50) -> list[DeliveryView]:
        channel = self._channel(name)
        store = self._core.store
        return [
            DeliveryView(
                id=item.id,
                type=item.kind,
                tool=item.tool,
                title=str(item.payload.get("title", "")),
                status=item.status,
                attempts=item.attempts,
                created_at=item.created_at,
                sent_at=item.sent_at,
                next_attempt_at=item.next_attempt_at if item.status == "pending" else None,
                last_error=item.last_error,
                tries=[
                    AttemptView(a.at, a.ok, a.status_code, a.error, a.seconds)
                    for a in store.attempts(item.id)
                ],
            )
            for item in store.outbox(channel.id, limit=max(1, min(limit, 500)))
        ]

    # -- changing --------------------------------------------------------------------------

    def add(
        self,
        name: str,
        kind: str,
        target: str,
        *,
        events: Sequence[str] = (),
        tools: Sequence[str] = (),
        tool: str | None = None,
    ) -> ChannelAdded:
        """A new channel: the instance's (``notifications.manage``), or ``tool``'s
        (``tools.notifications`` on it: it hears of that tool only)."""
        owner = None
        if tool is not None:
            owner = self._guard.tool("tools.notifications", tool)
            tools = [owner.name]
        else:
            self._guard.authorize("notifications.manage")
        if not is_valid_name(name):
            raise InvalidInputError(
                f"{name[:80]!r} is not a valid channel name (lower-case letters, digits, '-')"
            )
        if kind not in CHANNEL_KINDS:
            raise InvalidInputError(
                f"no channel kind {kind[:30]!r}; choose one of {', '.join(CHANNEL_KINDS)}"
            )
        _check_types(events)
        for named in tools:
            if self._core.store.find_tool(named) is None:
                raise ToolNotFoundError(f"no tool named {named!r}")
        hint = (
            transport.check_address(target)
            if kind == "email"
            else transport.check_url(target, self._core.settings)
        )
        if self._core.store.find_channel(name) is not None:
            raise ChannelExistsError(f"a channel named {name!r} exists already")
        secret = None
        if kind == "webhook":
            secret = SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()
        box = self._core.secrets
        with self._guard.audited("notifications.add", owner.name if owner else None, name):
            record = self._core.store.add_channel(
                name=name,
                kind=kind,
                target_sealed=box.seal({"value": target}),
                target_hint=hint,
                secret_sealed=box.seal({"value": secret}) if secret else None,
                events=list(dict.fromkeys(events)),
                tools=list(dict.fromkeys(tools)),
                tool_id=owner.id if owner else None,
                enabled=True,
                created_by=self._principal.actor().describe(),
            )
        self._core.notifier.forget_channels()
        return ChannelAdded(self._view(record), secret)

    def update(
        self,
        name: str,
        *,
        enabled: bool | None = None,
        events: Sequence[str] | None = None,
    ) -> ChannelView:
        channel = self._channel(name)
        fields: dict[str, object] = {}
        if enabled is not None:
            fields["enabled"] = enabled
        if events is not None:
            _check_types(events)
            fields["events"] = list(dict.fromkeys(events))
        with self._guard.audited("notifications.change", self._tool_name(channel), name):
            record = self._core.store.update_channel(channel.id, **fields)
        self._core.notifier.forget_channels()
        return self._view(record)

    def remove(self, name: str) -> None:
        channel = self._channel(name)
        with self._guard.audited("notifications.remove", self._tool_name(channel), name):
            self._core.store.delete_channel(channel.id)
        self._core.notifier.forget_channels()

    def test(self, name: str) -> int:
        """Queue a test notification to the channel (sent like any other); its outbox id."""
        channel = self._channel(name)
        tool = self._tool_name(channel)
        notice = Notice(
            "test",
            "A test from MACHETE",
            f"{self._principal.actor().name} sent this to check the channel {name!r}.",
            at=time.time(),
            tool=tool,
        )
        with self._guard.audited("notifications.test", tool, name):
            return self._core.store.enqueue(channel.id, "test", tool, notice.as_payload())

    # -- helpers ---------------------------------------------------------------------------

    def _channel(self, name: str) -> ChannelRecord:
        """The channel, if the principal may manage it; else (or missing) not found."""
        channel = self._core.store.find_channel(name)
        if channel is None:
            raise ChannelNotFoundError(f"no notification channel named {name!r}")
        try:
            if channel.tool_id is None:
                self._guard.authorize("notifications.manage")
            else:
                self._guard.tool("tools.notifications", channel.tool_id)
        except (ForbiddenError, ToolNotFoundError):
            # Admins' channels and other tools' are not shown to those who may not manage
            # them: the same answer as a name that does not exist.
            raise ChannelNotFoundError(f"no notification channel named {name!r}") from None
        return channel

    def _tool_name(self, channel: ChannelRecord) -> str | None:
        if channel.tool_id is None:
            return None
        tool = self._core.store.find_tool(channel.tool_id)
        return tool.name if tool else None

    def _view(self, channel: ChannelRecord) -> ChannelView:
        return ChannelView(
            name=channel.name,
            kind=channel.kind,
            target=channel.target_hint,
            events=list(channel.events),
            tools=list(channel.tools),
            tool=self._tool_name(channel),
            enabled=channel.enabled,
            created_at=channel.created_at,
            created_by=channel.created_by,
        )


def _check_types(events: Sequence[str]) -> None:
    unknown = sorted(set(events) - set(NOTICES))
    if unknown:
        raise InvalidInputError(
            f"no notification type {unknown[0][:40]!r}; choose among {', '.join(NOTICES)}"
        )
