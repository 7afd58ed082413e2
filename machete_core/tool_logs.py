"""Following a tool's output across releases, with its lifecycle events in between.

``machete logs NAME -f`` should not end when a deploy retires the container it was reading:
it follows the *tool*. One reader thread per instance streams the runtime's logs into a
queue; the follower shows the lines of the live release's instance only, and when a new
release goes live it starts reading that instance (its output from its start) and says so.
Lifecycle events of the tool, from any process, are printed as ``--- machete: ...`` lines.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from machete_core.errors import MacheteError
from machete_core.secrets import redact

if TYPE_CHECKING:
    from machete_core.machete import Machete

#: Lines of a new release's instance shown from its start (it has only just started).
NEW_RELEASE_TAIL = 500


def follow_tool(
    m: Machete, ident: str | int, *, tail: int = 100, poll: float = 0.3
) -> Iterator[str]:
    tool = m.store.get_tool(ident)
    secrets = tuple(sorted(m.config_secrets(tool.id), key=len, reverse=True))
    lines: queue.Queue[tuple[str, str]] = queue.Queue(maxsize=10_000)
    after = m.store.last_event_id()
    reading: str | None = None
    first = True
    while True:
        fresh = m.store.get_tool(tool.id)
        release = (
            m.store.get_release(fresh.current_release_id) if fresh.current_release_id else None
        )
        if release is not None and release.instance_id and release.instance_id != reading:
            reading = release.instance_id
            if not first:
                yield f"--- machete: now following release {release.number}"
            _start_reader(m, release.runtime, reading, tail if first else NEW_RELEASE_TAIL, lines)
            first = False
        try:
            instance, line = lines.get(timeout=poll)
            if instance == reading:
                yield redact(line, secrets) if secrets else line
            while True:  # everything already queued, without waiting again
                instance, line = lines.get_nowait()
                if instance == reading:
                    yield redact(line, secrets) if secrets else line
        except queue.Empty:
            pass
        for event in m.store.events_after(after):
            after = event.id
            if event.tool == tool.name and event.kind != "step.started":
                detail = " ".join(f"{k}={v}" for k, v in sorted(event.data.items()))
                yield f"--- machete: {event.kind} {detail}".rstrip()
                if event.kind == "tool.removed":
                    return


def _start_reader(
    m: Machete, runtime: str, instance_id: str, tail: int, out: queue.Queue[tuple[str, str]]
) -> None:
    def read() -> None:
        try:
            for line in m.runtime(runtime).logs(instance_id, tail=tail, follow=True):
                out.put((instance_id, line))
        except MacheteError:
            pass  # the instance went away: its stream is over; the follower moves on

    threading.Thread(target=read, name=f"logs-{instance_id[:12]}", daemon=True).start()
