"""One running operation: its log, its recorded steps, its cancel token."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from machete_core.domain.records import CancelToken
from machete_core.errors import MacheteError
from machete_core.oplog import OperationLog
from machete_core.pipeline.faults import crash_point
from machete_core.secrets import redact
from machete_core.state.views import OperationRecord

if TYPE_CHECKING:
    from machete_core.machete import Machete


class OperationRun:
    def __init__(
        self,
        machete: Machete,
        op: OperationRecord,
        cancel: CancelToken,
        listener: Callable[[str], None] | None = None,
    ) -> None:
        self.m = machete
        self.op = op
        self.cancel = cancel
        self.secrets: tuple[str, ...] = ()
        self.log = OperationLog(Path(op.log_path), redact=self.redact)
        if listener is not None:
            self.log.add_listener(listener)
        self.tool_id = op.tool_id
        self.tool_name = op.tool_name

    def add_secrets(self, secrets: tuple[str, ...]) -> None:
        """Values that must never reach the log or an error message (shown as ``***``)."""
        self.secrets = tuple(sorted({*self.secrets, *secrets}, key=len, reverse=True))

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

    def attach_tool(self, tool_id: int, tool_name: str) -> None:
        self.tool_id, self.tool_name = tool_id, tool_name
        self.m.store.update_operation(self.op.id, tool_id=tool_id, tool_name=tool_name)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Record the step before and after it runs, so a crash leaves a readable trail."""
        self.cancel.raise_if_cancelled()
        step_id = self.m.store.begin_step(self.op.id, name)
        self.log.write(f"==> {name}")
        self.m.events.publish(
            "step.started", tool=self.tool_name, operation_id=self.op.id, step=name
        )
        started = time.monotonic()
        crash_point(name, "before")
        try:
            yield
        except MacheteError as exc:
            self.m.store.end_step(step_id, "failed", f"{exc.code}: {exc.message}")
            raise
        except BaseException as exc:
            self.m.store.end_step(step_id, "failed", f"{type(exc).__name__}: {exc}")
            raise
        self.m.store.end_step(step_id, "done", f"{time.monotonic() - started:.2f}s")
        crash_point(name, "after")
