"""What every benchmark reports, the same way: each side's samples (one per round) as min,
median and max, the ratio of the medians, and the verdict against the budget; and, with
``--record``, the same table written into ``docs/benchmarks.md`` with the date, the commit and
the rounds, replacing what that benchmark recorded before.

A benchmark builds a :class:`Report`, adds :meth:`Report.compare` rows (two sides) and
:meth:`Report.measure` rows (one side against an absolute budget), may add notes, and returns
:meth:`Report.finish`'s exit code: 1 when any row is over its budget.
"""

from __future__ import annotations

import argparse
import datetime
import re
import statistics
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


@attrs.frozen
class Spread:
    """One side's samples, one per round."""

    samples: tuple[float, ...]

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)

    def show(self, fmt: str) -> str:
        return f"{self.min:{fmt}} / {self.median:{fmt}} / {self.max:{fmt}}"


@attrs.frozen
class Row:
    """One verdict: ``ours`` against ``theirs`` (their ratio of medians), or ``ours`` alone."""

    what: str
    ours: Spread
    theirs: Spread | None
    unit: str
    fmt: str
    budget: float | None
    #: For a ratio or a figure that must stay at or above its budget (throughput).
    at_least: bool

    @property
    def figure(self) -> float:
        """The ratio of the medians, or the median of a one-sided measure."""
        if self.theirs is None:
            return self.ours.median
        return self.ours.median / self.theirs.median

    @property
    def ok(self) -> bool:
        if self.budget is None:
            return True
        return self.figure >= self.budget if self.at_least else self.figure <= self.budget

    @property
    def verdict(self) -> str:
        if self.budget is None:
            return "(information)"
        sign = ">=" if self.at_least else "<="
        return f"{sign} {self.budget:g}: {'OK' if self.ok else 'OVER BUDGET'}"


def parser(doc: str | None, rounds: int) -> argparse.ArgumentParser:
    """The options every benchmark takes: ``--rounds`` and ``--record``."""
    p = argparse.ArgumentParser(
        description=(doc or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--rounds", type=int, default=rounds, help=f"rounds per side (default {rounds})")
    p.add_argument(
        "--record",
        action="store_true",
        help="write the results into docs/benchmarks.md (replacing this benchmark's last ones)",
    )
    return p


@attrs.define
class Report:
    name: str
    command: str
    rounds: int
    rows: list[Row] = attrs.Factory(list)
    notes: list[str] = attrs.Factory(list)

    def compare(
        self,
        what: str,
        ours: Sequence[float],
        theirs: Sequence[float] | None,
        *,
        unit: str,
        budget: float | None,
        at_least: bool = False,
        fmt: str = ".3g",
    ) -> Row:
        """A row: ``ours`` against ``theirs`` (None: ``ours`` alone, judged on its median)."""
        against = Spread(tuple(theirs)) if theirs is not None else None
        row = Row(what, Spread(tuple(ours)), against, unit, fmt, budget, at_least)
        self.rows.append(row)
        return row

    def measure(self, what: str, values: Sequence[float], **how: Any) -> Row:
        """A one-sided row (a share of a core, a count): :meth:`compare` against nothing."""
        return self.compare(what, values, None, **how)

    def note(self, text: str) -> None:
        self.notes.append(text)

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    def table(self) -> list[str]:
        lines = [
            "| measure | ours (min / median / max) | against (min / median / max) | ratio "
            "of medians | budget |",
            "|---|---|---|---|---|",
        ]
        for row in self.rows:
            theirs = f"{row.theirs.show(row.fmt)} {row.unit}" if row.theirs else ""
            figure = f"{row.figure:.2f}" if row.theirs else f"{row.figure:{row.fmt}} {row.unit}"
            lines.append(
                f"| {row.what} | {row.ours.show(row.fmt)} {row.unit} | {theirs} | {figure} "
                f"| {row.verdict} |"
            )
        return lines

    def finish(self, record: bool) -> int:
        print(f"== {self.name}: {self.rounds} rounds")
        for line in self.table():
            print(line)
        for text in self.notes:
            print(f"- {text}")
        print(f"{self.name}: {'OK' if self.ok else 'OVER BUDGET'}", flush=True)
        if record:
            write_results(self)
        return 0 if self.ok else 1


def commit() -> str:
    """The commit measured, ``-dirty`` when the tree differs from it (but for this document,
    which the benchmarks before this one in a run have just written)."""

    def git(*args: str) -> str:
        found = subprocess.run(
            ["git", *args], cwd=DOCS.parent.parent, capture_output=True, text=True, check=False
        )
        return found.stdout.strip()

    head = git("rev-parse", "--short=7", "HEAD") or "unknown"
    changed = git(
        "status", "--porcelain", "--untracked-files=no", "--", ".", ":!docs/benchmarks.md"
    )
    return head + ("-dirty" if changed else "")


def results_block(report: Report, today: datetime.date, at: str) -> str:
    lines = [
        f"Last results: {today.isoformat()}, commit `{at}`, `{report.command}`, "
        f"{report.rounds} rounds: **{'within budget' if report.ok else 'OVER BUDGET'}**.",
        "",
        *report.table(),
    ]
    if report.notes:
        lines.append("")
        lines.extend(f"- {text}" for text in report.notes)
    return "\n".join(lines)


def replace_block(text: str, name: str, block: str) -> str:
    """``text`` with the lines between ``<!-- results:name -->`` and ``<!-- /results:name
    -->`` replaced by ``block`` (the markers must be there: a section is written by hand)."""
    pattern = re.compile(
        rf"(<!-- results:{re.escape(name)} -->\n).*?(<!-- /results:{re.escape(name)} -->)",
        re.DOTALL,
    )
    if not pattern.search(text):
        raise SystemExit(f"docs/benchmarks.md has no results markers for {name}")
    return pattern.sub(lambda m: m.group(1) + block + "\n" + m.group(2), text, count=1)


def write_results(report: Report) -> None:
    block = results_block(report, datetime.date.today(), commit())
    DOCS.write_text(replace_block(DOCS.read_text(), report.name, block))
    print(f"recorded in {DOCS}")
