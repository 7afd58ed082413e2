"""Followers: the one way every host follows something live.

Each follower is a cursor whose :meth:`read` returns at once with what is new (never blocks),
so an asyncio host polls it briefly in a worker thread and waits on its event loop, while the
CLI uses :func:`iterate`, which sleeps between reads. Three are needed:

- :class:`OperationTail`: an operation's log by byte offset, until the operation has ended;
- :class:`EventCursor`: lifecycle events of every process, by event id;
- :class:`ToolLogFollower`: a tool's output across releases, with its lifecycle events in
  between. One reader thread per *instance* (not per reader of a pool) streams the runtime's
  logs into a queue; when a new release goes live it reads that instance and says so.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from machete_core.context import Core
from machete_core.domain.operations import STEP_MARKER, OperationKind, StepProgress, StepState
from machete_core.errors import MacheteError
from machete_core.oplog import lines_before, read_lines, read_log
from machete_core.secrets import redact
from machete_core.state.views import EventRecord

T = TypeVar("T")

#: Lines of a new release's instance shown from its start (it has only just started).
NEW_RELEASE_TAIL = 500


def iterate(read: Callable[[], tuple[Sequence[T], bool]], poll: float) -> Iterator[T]:
    """Turn a follower's ``read`` into a blocking iterator that ends when it says so."""
    while True:
        items, finished = read()
        yield from items
        if finished:
            return
        if not items:
            time.sleep(poll)


class OperationTail:
    """An operation's log from ``offset``, line by line, until the operation has ended
    (whichever process runs it) and every line is read."""

    def __init__(self, core: Core, op_id: str, offset: int = 0) -> None:
        self._core = core
        self.op_id = op_id
        self.offset = offset
        self._path = Path(core.store.get_operation(op_id).log_path)
        self._pending = ""

    def read(self) -> tuple[list[str], bool]:
        done = self._core.store.get_operation(self.op_id).done
        text, self.offset = read_log(self._path, self.offset)
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        if done and not text:
            if self._pending:
                lines.append(self._pending)
                self._pending = ""
            return lines, True
        return lines, False


class OperationProgress:
    """An operation's log lines and its steps' reports, in the order they happened, until it
    has ended: what the CLI shows while a server runs the operation.

    A step's report is published before its ``==> step`` marker is logged, and each read
    takes the log first and the events after it, so the report for a marker read is always at
    hand; it is sent in the marker's place. A marker without a report (an older log) stays a
    line."""

    def __init__(self, core: Core, op_id: str) -> None:
        self._core = core
        self._tail = OperationTail(core, op_id)
        self._kind = OperationKind(core.store.get_operation(op_id).kind)
        self._after = 0
        self._reports: deque[StepProgress] = deque()

    def read(self) -> tuple[list[StepProgress | str], bool]:
        lines, finished = self._tail.read()
        for event in self._core.store.operation_events(self._tail.op_id, self._after):
            self._after = event.id
            report = step_report(event, self._kind)
            if report is not None:
                self._reports.append(report)
        out: list[StepProgress | str] = []
        for line in lines:
            if line.startswith(STEP_MARKER) and self._has_started(line[len(STEP_MARKER) :]):
                out.extend(self._until_started(line[len(STEP_MARKER) :]))
            else:
                out.append(line)
        if finished:
            out.extend(self._reports)
            self._reports.clear()
        return out, finished

    def _has_started(self, step: str) -> bool:
        return any(r.step == step and r.state == StepState.STARTED for r in self._reports)

    def _until_started(self, step: str) -> list[StepProgress]:
        taken = []
        while self._reports:
            report = self._reports.popleft()
            taken.append(report)
            if report.step == step and report.state == StepState.STARTED:
                break
        return taken


def step_report(event: EventRecord, kind: OperationKind) -> StepProgress | None:
    """The step report a ``step.started``/``step.finished`` event carries."""
    if event.kind not in ("step.started", "step.finished") or event.operation_id is None:
        return None
    data = event.data
    try:
        return StepProgress(
            operation_id=event.operation_id,
            kind=kind,
            step=str(data["step"]),
            index=int(data["index"]),
            total=int(data["total"]),
            state=StepState(str(data["state"])),
            seconds=data.get("seconds"),
            detail=data.get("detail"),
        )
    except (KeyError, ValueError, TypeError):
        return None


#: The longest an event cursor trusts an unchanged change marker (see ``may_have_new``).
FULL_READ_S = 5.0


class EventCursor:
    """Lifecycle events recorded after a given id (by default: from now on), optionally of
    one tool. Never finishes by itself."""

    def __init__(self, core: Core, *, after: int | None = None, tool: str | None = None) -> None:
        self._core = core
        self._marker = core.store.change_marker()
        self._read_at = time.monotonic()
        self.after = core.store.last_event_id() if after is None else after
        self.tool = tool

    def read(self, limit: int = 500) -> tuple[list[EventRecord], bool]:
        # Taken before the query: a commit after it changes the marker again.
        marker = self._core.store.change_marker()
        batch = self._core.store.events_after(self.after, limit)
        self._marker, self._read_at = marker, time.monotonic()
        if batch:
            self.after = batch[-1].id
        return [e for e in batch if self.tool is None or e.tool == self.tool], False

    def may_have_new(self) -> bool:
        """False only when nothing can have been recorded since the last :meth:`read`: the
        database's change marker is the same and that read is recent (a full read at least
        every ``FULL_READ_S`` covers a change the marker could miss). Reads no row: a poller
        asks this on its event loop and queries only when it says True."""
        marker = self._core.store.change_marker()
        return (
            marker is None
            or marker != self._marker
            or time.monotonic() - self._read_at >= FULL_READ_S
        )


class ToolLogFollower:
    def __init__(self, core: Core, ident: str | int, *, tail: int = 100) -> None:
        self._core = core
        self._tool = core.store.get_tool(ident)
        self._secrets = tuple(sorted(core.config_secrets(self._tool.id), key=len, reverse=True))
        self._lines: queue.Queue[tuple[str, str]] = queue.Queue(maxsize=10_000)
        self._events = EventCursor(core, tool=self._tool.name)
        self._tail = tail
        self._reading: str | None = None
        self._first = True
        self._stop = threading.Event()

    def close(self) -> None:
        """Stop the reader threads at their next line (a closed reader wants no more)."""
        self._stop.set()

    def read(self) -> tuple[list[str], bool]:
        out: list[str] = []
        tool = self._core.store.find_tool(self._tool.id)
        release = (
            self._core.store.get_release(tool.current_release_id)
            if tool is not None and tool.current_release_id
            else None
        )
        if release is not None and release.instance_id and release.instance_id != self._reading:
            self._reading = release.instance_id
            if not self._first:
                out.append(f"--- machete: now following release {release.number}")
            tail = self._tail if self._first else NEW_RELEASE_TAIL
            self._start_reader(release.runtime, self._reading, tail)
            self._first = False
        while True:
            try:
                instance, line = self._lines.get_nowait()
            except queue.Empty:
                break
            if instance == self._reading:
                out.append(redact(line, self._secrets) if self._secrets else line)
        events, _ = self._events.read()
        for event in events:
            if event.kind.startswith("step."):
                continue
            detail = " ".join(f"{k}={v}" for k, v in sorted(event.data.items()))
            out.append(f"--- machete: {event.kind} {detail}".rstrip())
            if event.kind == "tool.removed":
                self.close()
                return out, True
        return out, False

    def _start_reader(self, runtime: str, instance_id: str, tail: int) -> None:
        core, lines, stop = self._core, self._lines, self._stop

        def read() -> None:
            stream = core.runtime(runtime).logs(instance_id, tail=tail, follow=True)
            try:
                for line in stream:
                    if stop.is_set():
                        return
                    lines.put((instance_id, line))
            except MacheteError:
                pass  # the instance went away: its stream is over; the follower moves on
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()

        threading.Thread(target=read, name=f"logs-{instance_id[:12]}", daemon=True).start()


class OperationLines:
    """An operation's log from a byte offset, each line with the offset just after it, until
    the operation has ended: what a browser follows, resuming exactly where it stopped."""

    def __init__(self, core: Core, op_id: str, offset: int = 0) -> None:
        self._core = core
        self.op_id = op_id
        self.offset = offset
        self._path = Path(core.store.get_operation(op_id).log_path)

    def read(self) -> tuple[list[tuple[str, int]], bool]:
        done = self._core.store.get_operation(self.op_id).done
        lines = read_lines(self._path, self.offset)
        if lines:
            self.offset = lines[-1][1]
        return lines, done and not lines

    def page(self, count: int, before: int | None = None) -> tuple[list[tuple[str, int]], int]:
        """Up to ``count`` lines ending at or before the offset ``before`` (default: the
        log's end), oldest first, and the offset where the first of them starts."""
        if before is None:
            try:
                before = self._path.stat().st_size
            except FileNotFoundError:
                return [], 0
        # One line more than asked: where it ends is where the answered ones start.
        window = lines_before(self._path, before, count + 1)
        if len(window) > count:
            return window[1:], window[0][1]
        return window, 0
