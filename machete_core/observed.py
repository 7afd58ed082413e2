"""Observed state: what the runtimes last said about each live instance.

Views and listings read it instead of asking the engine per request (ten tools used to cost
ten engine round trips per ``GET /api/tools``, in the pool every other call waits on). It is
kept current by the reconciler's rounds, the health monitor, the runtime's event stream
(``docker events``) in ``machete serve``, and every operation's end; an instance never
observed yet is inspected once, on first view.
"""

from __future__ import annotations

import threading
import time

import attrs

from machete_core.domain.records import Endpoint, InstanceState


@attrs.frozen
class Observation:
    tool: str
    state: InstanceState
    #: None when the instance is not running (or its port is not published).
    endpoint: Endpoint | None
    at: float


class ObservedState:
    """A thread-safe map from instance id to its last :class:`Observation`.

    Without an event stream feeding it (a CLI process, a library user) an observation older
    than ``max_age`` seconds is not trusted, so changes made behind MACHETE's back show within
    that time; with one (``watched``, set by ``machete serve``), observations stand until an
    event, an operation or a reconciler round replaces them.
    """

    def __init__(self, max_age: float = 1.0) -> None:
        self._lock = threading.Lock()
        self._by_instance: dict[str, Observation] = {}
        self.max_age = max_age
        self.watched = False
        #: Bumped by every change, so caches of views built on it know when to rebuild.
        self.generation = 0

    def get(self, instance_id: str) -> Observation | None:
        with self._lock:
            found = self._by_instance.get(instance_id)
        if found is not None and not self.watched and time.time() - found.at > self.max_age:
            return None
        return found

    def put(
        self, tool: str, state: InstanceState, endpoint: Endpoint | None, at: float | None = None
    ) -> Observation:
        found = Observation(tool, state, endpoint, at or time.time())
        with self._lock:
            old = self._by_instance.get(state.id)
            self._by_instance[state.id] = found
            if old is None or (old.state, old.endpoint) != (state, endpoint):
                self.generation += 1
        return found

    def forget(self, instance_id: str) -> None:
        with self._lock:
            if self._by_instance.pop(instance_id, None) is not None:
                self.generation += 1

    def forget_tool(self, tool: str) -> None:
        with self._lock:
            for key in [k for k, o in self._by_instance.items() if o.tool == tool]:
                del self._by_instance[key]
                self.generation += 1

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_instance)
