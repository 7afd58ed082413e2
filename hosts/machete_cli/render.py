"""Text rendering for the terminal, from the JSON documents both modes answer with (so the
text is the same whichever mode made it). Cheap to import: no core modules."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Sequence
from typing import Any

import click


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[("" if c is None else str(c)) for c in row] for row in rows]
    # Widths ignore colour codes, so styled cells still line up.
    widths = [
        max([len(h)] + [len(click.unstyle(r[i])) for r in cells]) for i, h in enumerate(headers)
    ]
    click.echo("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in cells:
        padded = (c + " " * (w - len(click.unstyle(c))) for c, w in zip(row, widths, strict=True))
        click.echo("  ".join(padded).rstrip())


def when(ts: float | None) -> str:
    if not ts:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


STATUS_COLOURS = {
    "running": "green",
    "healthy": "green",
    "succeeded": "green",
    "building": "yellow",
    "pending": "yellow",
    "stopped": "blue",
    "failed": "red",
    "unhealthy": "red",
    "unknown": "magenta",
}


def actor_text(actor: dict[str, Any] | None) -> str:
    """An actor's document as ``kind:name`` (the core's ``Actor.describe``)."""
    return f"{actor['kind']}:{actor['name']}" if actor else ""


def waiting_line(message: str) -> None:
    click.echo(f"waiting: {message}", err=True)


def status_text(status: str | None) -> str:
    if not status:
        return ""
    return click.style(status, fg=STATUS_COLOURS.get(status))


#: A line that only says how far something has got (it replaces the one before it).
PROGRESS = re.compile(r"^remote: .*\d{1,3}% \(\d+/\d+\)")


class ProgressPrinter:
    """Prints an operation's progress as it happens: each step as a numbered header (from the
    run's structured step reports, never parsed from log text), the log lines beneath."""

    def __init__(self, *, err: bool = False) -> None:
        self.err = err
        self.started = time.monotonic()
        #: On a terminal, progress lines (``remote: Receiving objects: 41%``) update in place.
        self.terminal = (sys.stderr if err else sys.stdout).isatty()
        self._in_place = False

    def step(self, index: int, total: int, name: str) -> None:
        """A step has started."""
        self._end_in_place()
        elapsed = time.monotonic() - self.started
        click.secho(
            f"[{index}/{total}] {name}  ({elapsed:.1f}s)",
            bold=True,
            err=self.err,
        )

    def line(self, line: str) -> None:
        # The log's own step marker (STEP_MARKER of the core, not imported here): shown by step().
        if line.startswith("==> "):
            return
        if self.terminal and PROGRESS.match(line):
            click.echo(f"\r\033[K    {line}", nl=False, err=self.err)
            self._in_place = True
            return
        self._end_in_place()
        click.echo(f"    {line}", err=self.err)

    def _end_in_place(self) -> None:
        if self._in_place:
            click.echo("", err=self.err)
            self._in_place = False
