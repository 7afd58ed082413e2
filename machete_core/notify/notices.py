"""Which core events are worth telling, and what is told."""

from __future__ import annotations

from typing import Any

import attrs

from machete_core.domain.records import Event
from machete_core.errors import MacheteError
from machete_core.notify.needs import Platform
from machete_core.secrets import redact


@attrs.frozen
class Notice:
    type: str
    title: str
    text: str
    at: float
    tool: str | None = None
    data: dict[str, Any] = attrs.Factory(dict)
    #: Notices with one key are told once per ``window`` seconds per channel.
    dedupe_key: str | None = None
    window: float = 0.0

    def as_payload(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "timestamp": self.at,
            "title": self.title,
            "text": self.text,
            "tool": self.tool,
            "data": self.data,
        }


#: The core's events that can become a notice (others are not looked at).
SOURCES = frozenset(
    {
        "operation.finished",
        "operation.abandoned",
        "tool.unhealthy",
        "tool.recovered",
        "hook.bad_signature",
        "token.expiring",
    }
)


def notice_for(core: Platform, event: Event) -> Notice | None:
    if event.kind not in SOURCES:
        return None
    tool = event.tool
    repeat = core.settings.notify_repeat_seconds
    if event.kind == "operation.finished":
        return _finished(core, event)
    if event.kind == "operation.abandoned":
        return Notice(
            "operation.abandoned",
            f"{event.data.get('kind', 'An')} operation of {tool or 'MACHETE'} was abandoned",
            "The process running it stopped; it was ended and its half-made release undone.",
            event.at,
            tool,
            {"operation_id": event.operation_id},
        )
    if event.kind == "tool.unhealthy":
        failures = event.data.get("failures")
        return Notice(
            "tool.unhealthy",
            f"{tool} is unhealthy",
            f"{failures} health checks in a row failed: {event.data.get('detail') or 'no answer'}",
            event.at,
            tool,
            {"failures": failures, "detail": event.data.get("detail")},
            dedupe_key=f"tool.unhealthy:{tool}",
            window=repeat,
        )
    if event.kind == "tool.recovered":
        return Notice(
            "tool.recovered",
            f"{tool} is healthy again",
            "Its health check passes again.",
            event.at,
            tool,
            dedupe_key=f"tool.recovered:{tool}",
            window=repeat,
        )
    if event.kind == "hook.bad_signature":
        return Notice(
            "webhook.bad_signature",
            f"A webhook delivery for {tool} was refused",
            f"A {event.data.get('provider', 'push')} delivery from "
            f"{event.data.get('address') or 'an unknown address'} was not signed with the "
            "tool's secret. Repeats are not told for a while.",
            event.at,
            tool,
            {"provider": event.data.get("provider"), "address": event.data.get("address")},
            dedupe_key=f"webhook.bad_signature:{tool}",
            window=repeat,
        )
    return Notice(
        "token.expiring",
        f"The token {event.data.get('name')!r} of {event.data.get('user')} expires soon",
        f"It expires at {event.data.get('expires_at_text')}; make a new one "
        "(`machete tokens create`) and revoke this one.",
        event.at,
        None,
        {k: event.data.get(k) for k in ("token", "name", "user", "expires_at")},
        dedupe_key=f"token.expiring:{event.data.get('token')}",
        window=core.settings.token_expiry_warning_days * 86400.0,
    )


def _finished(core: Platform, event: Event) -> Notice | None:
    kind, status = event.data.get("kind"), event.data.get("status")
    if kind not in ("deploy", "install", "rollback") or status not in ("succeeded", "failed"):
        return None
    try:
        op = core.store.get_operation(event.operation_id or "")
    except MacheteError:
        return None
    tool = event.tool
    # Recorded redacted already; redacted again here (the tool's secrets may have changed, and
    # what leaves the platform is checked where it leaves).
    known = core.config_secrets(op.tool_id) if op.tool_id is not None else ()
    op = attrs.evolve(op, error_message=redact(op.error_message or "", known))
    data: dict[str, Any] = {
        "operation_id": op.id,
        "kind": kind,
        "status": status,
        "actor": op.actor.describe(),
    }
    if kind == "rollback":
        if status == "succeeded":
            return Notice("rollback", f"{tool} was rolled back", "", event.at, tool, data)
        data["reason"] = op.error_message
        return Notice(
            "rollback",
            f"A rollback of {tool} failed",
            f"[{op.error_code}] {op.error_message}",
            event.at,
            tool,
            data,
        )
    if status == "succeeded":
        return Notice(
            "deploy.succeeded", f"{tool} was deployed", f"By {op.actor.name}.", event.at, tool, data
        )
    # The operation's message was redacted of the tool's secrets when it was recorded.
    data.update(reason=op.error_message, code=op.error_code)
    return Notice(
        "deploy.failed",
        f"A {kind} of {tool} failed",
        f"[{op.error_code}] {op.error_message} The previous release keeps serving.",
        event.at,
        tool,
        data,
    )
