"""The event bus: recorded in the database for every host's streams, handed to plugins'
``machete_on_event`` and to in-process subscribers."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from machete_core.domain.operations import SYSTEM, Actor
from machete_core.domain.records import Event

log = logging.getLogger(__name__)
Subscriber = Callable[[Event], None]
Recorder = Callable[[Event], None]


class EventBus:
    def __init__(
        self,
        emit_to_plugins: Callable[[Event], None] | None = None,
        record: Recorder | None = None,
    ) -> None:
        self._emit_to_plugins = emit_to_plugins
        self._record = record
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        with self._lock:
            self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            with self._lock:
                if subscriber in self._subscribers:
                    self._subscribers.remove(subscriber)

        return unsubscribe

    def publish(
        self,
        kind: str,
        /,
        *,
        tool: str | None = None,
        operation_id: str | None = None,
        actor: Actor = SYSTEM,
        **data: Any,
    ) -> Event:
        event = Event(
            kind=kind, tool=tool, operation_id=operation_id, data=data, at=time.time(), actor=actor
        )
        if self._record is not None:
            try:
                self._record(event)
            except Exception:
                # The event log is for watchers; losing a line must not fail an operation.
                log.exception("recording event %s failed", kind)
        if self._emit_to_plugins is not None:
            self._emit_to_plugins(event)
        with self._lock:
            subscribers = list(self._subscribers)
        for sub in subscribers:
            try:
                sub(event)
            except Exception:
                log.exception("event subscriber failed")
        return event
