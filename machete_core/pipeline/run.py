"""One running operation: its typed params, its log, its recorded steps, its cancel token."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from machete_core import log_context
from machete_core.context import Core
from machete_core.domain.operations import (
    STEP_MARKER,
    STEPS,
    Actor,
    OperationKind,
    StepProgress,
    StepState,
)
from machete_core.domain.records import CancelToken
from machete_core.errors import MacheteError
from machete_core.oplog import OperationLog
from machete_core.pipeline.faults import crash_point
from machete_core.secrets import redact
from machete_core.state.views import OperationRecord

log = logging.getLogger(__name__)
P = TypeVar("P")
StepListener = Callable[[StepProgress], None]


class OperationRun:
    def __init__(
        self,
        core: Core,
        op: OperationRecord,
        cancel: CancelToken,
        listener: Callable[[str], None] | None = None,
        on_step: StepListener | None = None,
    ) -> None:
        self.core = core
        self.op = op
        self.kind = OperationKind(op.kind)
        self.actor: Actor = op.actor
        self.cancel = cancel
        self.secrets: tuple[str, ...] = ()
        self.log = OperationLog(Path(op.log_path), redact=self.redact)
        if listener is not None:
            self.log.add_listener(listener)
        self._on_step = on_step
        self.tool_id = op.tool_id
        self.tool_name = op.tool_name

    def params(self, cls: type[P]) -> P:
        """The operation's params as the record of its kind."""
        params = self.op.typed_params
        if not isinstance(params, cls):
            raise TypeError(f"{self.kind} carries {type(params).__name__}, not {cls.__name__}")
        return params

    def add_secrets(self, secrets: tuple[str, ...]) -> None:
        """Values that must never reach the log or an error message (shown as ``***``)."""
        self.secrets = tuple(sorted({*self.secrets, *secrets}, key=len, reverse=True))

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

    def attach_tool(self, tool_id: int, tool_name: str) -> None:
        self.tool_id, self.tool_name = tool_id, tool_name
        self.core.store.update_operation(self.op.id, tool_id=tool_id, tool_name=tool_name)

    def publish(self, event: str, /, **data: Any) -> None:
        """A lifecycle event of this operation, naming its tool and actor."""
        self.core.events.publish(
            event, tool=self.tool_name, operation_id=self.op.id, actor=self.actor, **data
        )

    def _progress(self, name: str, state: StepState, **extra: Any) -> None:
        declared = STEPS[self.kind]
        progress = StepProgress(
            operation_id=self.op.id,
            kind=self.kind,
            step=name,
            index=declared.index(name) + 1,
            total=len(declared),
            state=state,
            **extra,
        )
        event = "step.started" if state == StepState.STARTED else "step.finished"
        self.publish(
            event,
            step=name,
            index=progress.index,
            total=progress.total,
            state=state.value,
            seconds=progress.seconds,
            detail=progress.detail,
        )
        if self._on_step is not None:
            try:
                self._on_step(progress)
            except Exception:  # a broken progress display must not break the operation
                pass

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Record the step before and after it runs, so a crash leaves a readable trail."""
        if name not in STEPS[self.kind]:
            raise ValueError(f"{name!r} is not a declared step of {self.kind}")
        self.cancel.raise_if_cancelled()
        step_id = self.core.store.begin_step(self.op.id, name)
        context = log_context.bind(step=name)
        log.info("step %s started", name)
        # Published before the log's marker: a follower that reads the log, then the events,
        # always has the step's report by the time it meets the marker (follow.py).
        self._progress(name, StepState.STARTED)
        self.log.write(STEP_MARKER + name)
        started = time.monotonic()
        try:
            crash_point(name, "before")
            try:
                yield
            except BaseException as exc:
                if isinstance(exc, MacheteError):
                    detail = f"{exc.code}: {exc.message}"
                else:
                    detail = f"{type(exc).__name__}: {exc}"
                self.core.store.end_step(step_id, "failed", detail)
                seconds = round(time.monotonic() - started, 3)
                self._progress(name, StepState.FAILED, detail=self.redact(detail), seconds=seconds)
                log.warning("step %s failed after %.2fs: %s", name, seconds, self.redact(detail))
                raise
            seconds = time.monotonic() - started
            self.core.store.end_step(step_id, "done", f"{seconds:.2f}s")
            self._progress(name, StepState.DONE, seconds=round(seconds, 3))
            log.info("step %s done in %.2fs", name, seconds)
            crash_point(name, "after")
        finally:
            log_context.reset(context)
