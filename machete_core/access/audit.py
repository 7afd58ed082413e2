"""Writing and reading the audit log. Rows name the actor, the token, the address and request,
the action, its target and how it ended; never a secret (callers pass names, not values)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import attrs

from machete_core.access.principal import Principal
from machete_core.state.people_views import AuditRecord
from machete_core.state.store import Store

log = logging.getLogger(__name__)
DAY_S = 86400.0


class Auditor:
    def __init__(self, store: Store, retention_days: int) -> None:
        self._store = store
        self._retention_days = retention_days

    def record(
        self,
        principal: Principal,
        action: str,
        *,
        target: str | None = None,
        tool: str | None = None,
        outcome: str = "ok",
        reason: str | None = None,
        at: float | None = None,
    ) -> None:
        actor = principal.actor()
        try:
            self._store.append_audit(
                at=time.time() if at is None else at,
                actor_kind=actor.kind.value,
                actor_id=actor.id[:64],
                actor_name=actor.name[:100],
                token_id=principal.token.public_id if principal.token else None,
                address=principal.address,
                request_id=principal.request_id,
                action=action,
                target=None if target is None else target[:200],
                tool=tool,
                outcome=outcome,
                reason=None if reason is None else reason[:2000],
            )
        except Exception:
            # The audit log must not take the action down with it, but its loss is loud.
            log.exception("could not write the audit row for %s", action)

    def prune(self, now: float | None = None) -> int:
        if self._retention_days <= 0:
            return 0
        now = time.time() if now is None else now
        return self._store.prune_audit(now - self._retention_days * DAY_S)


def shown_url(url: str) -> str:
    """A source URL as the audit log may keep it: any ``user:password@`` removed (a URL with
    credentials in it is refused, but the refusal is audited too)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unreadable URL)"
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, "***@" + host, parts.path, parts.query, ""))


def as_data(record: AuditRecord) -> dict[str, object]:
    return attrs.asdict(record)


def json_lines(records: list[AuditRecord]) -> Iterator[str]:
    for record in records:
        yield json.dumps(as_data(record), sort_keys=True) + "\n"
