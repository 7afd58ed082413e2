"""The outbox: notifications written with the event they tell of, sent afterwards.

:meth:`Notifier.outbox_for` runs while an event is recorded and returns the rows to write in
that same transaction (one per matching, enabled channel). A host calls :meth:`send_due` every
few seconds: it claims due rows (one server each), sends them, and records every attempt;
a failed one is due again after the next step of ``BACKOFF``, and after the last it has failed.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from machete_core.domain.records import Event
from machete_core.notify import transport
from machete_core.notify.kinds import BACKOFF
from machete_core.notify.needs import Platform
from machete_core.notify.notices import SOURCES, notice_for
from machete_core.secrets import redact
from machete_core.state.notification_views import ChannelRecord, NewNotification, OutboxRecord

log = logging.getLogger(__name__)
#: Seconds a server may take to send what it claimed before another may take it.
CLAIM_S = 60.0
#: Seconds the channels are cached for the fan-out (a change here drops the cache at once).
CHANNELS_TTL_S = 5.0


def matches(channel: ChannelRecord, notice_type: str, tool: str | None) -> bool:
    if not channel.enabled:
        return False
    if notice_type != "test" and channel.events and notice_type not in channel.events:
        return False
    if channel.tool_id is not None or channel.tools:
        # A tool's channel (or one filtered by tools) hears only of those tools.
        return tool is not None and (not channel.tools or tool in channel.tools)
    return True


class Notifier:
    def __init__(self, core: Platform) -> None:
        self._core = core
        self._lock = threading.Lock()
        self._channels: tuple[float, list[ChannelRecord]] | None = None
        self._tokens_told: set[str] = set()

    def forget_channels(self) -> None:
        with self._lock:
            self._channels = None

    def _all_channels(self) -> list[ChannelRecord]:
        with self._lock:
            cached = self._channels
        if cached is not None and time.monotonic() - cached[0] < CHANNELS_TTL_S:
            return cached[1]
        channels = self._core.store.channels()
        with self._lock:
            self._channels = (time.monotonic(), channels)
        return channels

    # -- writing ---------------------------------------------------------------------------

    def outbox_for(self, event: Event) -> list[NewNotification]:
        if event.kind not in SOURCES:
            return []
        channels = self._all_channels()
        if not channels:
            return []
        notice = notice_for(self._core, event)
        if notice is None:
            return []
        return [
            NewNotification(
                channel_id=c.id,
                kind=notice.type,
                tool=notice.tool,
                payload=notice.as_payload(),
                dedupe_key=notice.dedupe_key,
                window=notice.window,
            )
            for c in channels
            if matches(c, notice.type, notice.tool)
        ]

    def check_expiring_tokens(self, now: float | None = None) -> int:
        """Publish ``token.expiring`` once for each live token within the warning window."""
        now = time.time() if now is None else now
        window = self._core.settings.token_expiry_warning_days * 86400.0
        told = 0
        for token in self._core.store.tokens():
            if token.revoked_at is not None or token.expires_at is None:
                continue
            if not now < token.expires_at <= now + window:
                continue
            key = f"token.expiring:{token.public_id}"
            if key in self._tokens_told or self._core.store.notified(key, now - window):
                continue
            self._tokens_told.add(key)
            expires = datetime.fromtimestamp(token.expires_at, UTC)
            self._core.events.publish(
                "token.expiring",
                token=token.public_id,
                name=token.name,
                user=token.user,
                expires_at=token.expires_at,
                expires_at_text=expires.strftime("%Y-%m-%d %H:%M UTC"),
            )
            told += 1
        return told

    # -- sending ---------------------------------------------------------------------------

    def send_due(self, now: float | None = None, *, limit: int = 20) -> int:
        """Send what is due by ``now`` (a clock tests inject); returns how many were sent."""
        now = time.time() if now is None else now
        sent = 0
        claimed = self._core.store.claim_due(now, CLAIM_S, limit)
        if not claimed:
            return 0  # the usual round: one query
        channels = {c.id: c for c in self._core.store.channels()}
        for item in claimed:
            channel = channels.get(item.channel_id)
            if channel is None:
                continue  # removed meanwhile (its rows go with it)
            started = time.monotonic()
            try:
                result = self.deliver(channel, item)
            except Exception as exc:  # a bug here must not stop the other notifications
                log.exception("sending notification %s failed", item.id)
                result = transport.Sent(False, error=f"{type(exc).__name__}: {exc}")
            error = redact(result.error, self._secrets(channel)) if result.error else None
            retry = None
            if not result.ok and item.attempts < len(BACKOFF):
                retry = now + BACKOFF[item.attempts]
            self._core.store.record_attempt(
                item.id,
                at=now,
                ok=result.ok,
                seconds=round(time.monotonic() - started, 3),
                status_code=result.status_code,
                error=error,
                next_attempt_at=retry,
            )
            outcome = "sent" if result.ok else ("retrying" if retry else "failed")
            self._core.events.publish(
                "notification.attempted",
                tool=item.tool,
                channel=channel.name,
                notice=item.kind,
                outcome=outcome,
            )
            sent += result.ok
        return sent

    def _secrets(self, channel: ChannelRecord) -> tuple[str, ...]:
        values = [self._core.secrets.open(channel.target_sealed)["value"]]
        if channel.secret_sealed:
            values.append(self._core.secrets.open(channel.secret_sealed)["value"])
        return tuple(str(v) for v in values)

    def deliver(self, channel: ChannelRecord, item: OutboxRecord) -> transport.Sent:
        target = str(self._core.secrets.open(channel.target_sealed)["value"])
        payload = item.payload
        settings = self._core.settings
        if channel.kind == "email":
            return transport.mail(target, f"[MACHETE] {payload['title']}", plain(payload), settings)
        rules = transport.policy(settings)
        if channel.kind == "slack":
            body: dict[str, Any] = {"text": f"*{payload['title']}*\n{payload['text']}".strip()}
            return transport.post(target, _json(body), {"Content-Type": "application/json"}, rules)
        if channel.kind == "discord":
            body = {
                "content": None,
                "username": "MACHETE",
                "embeds": [
                    {
                        "title": str(payload["title"])[:256],
                        "description": str(payload["text"])[:4096],
                        "timestamp": _iso(payload["timestamp"]),
                    }
                ],
                "allowed_mentions": {"parse": []},  # a tool's text never pings anyone
            }
            return transport.post(target, _json(body), {"Content-Type": "application/json"}, rules)
        return self._standard_webhook(channel, item, target, rules)

    def _standard_webhook(
        self, channel: ChannelRecord, item: OutboxRecord, target: str, rules: Any
    ) -> transport.Sent:
        from standardwebhooks import Webhook

        assert channel.secret_sealed is not None
        secret = str(self._core.secrets.open(channel.secret_sealed)["value"])
        payload = item.payload
        body = json.dumps(
            {"type": payload["type"], "timestamp": _iso(payload["timestamp"]), "data": payload},
            default=str,
        )
        # One id per notification: a receiver drops a retry it already took.
        msg_id = f"msg_{item.id}_{uuid.uuid5(uuid.NAMESPACE_URL, str(item.id)).hex[:12]}"
        at = datetime.now(UTC)
        headers = {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(secret).sign(msg_id, at, body),
        }
        return transport.post(target, body.encode(), headers, rules)


def plain(payload: dict[str, Any]) -> str:
    lines = [str(payload["title"]), "", str(payload["text"])]
    if payload.get("tool"):
        lines += ["", f"Tool: {payload['tool']}"]
    lines += [f"When: {_iso(payload['timestamp'])}", f"Type: {payload['type']}"]
    return "\n".join(lines) + "\n"


def _iso(at: Any) -> str:
    return datetime.fromtimestamp(float(at), UTC).isoformat().replace("+00:00", "Z")


def _json(value: Any) -> bytes:
    return json.dumps(value, default=str).encode()
