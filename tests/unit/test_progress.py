"""Fetch progress is a few lines in the log and one updating line on a terminal; step
counters come from the declared steps and never pass their total."""

from __future__ import annotations

import pytest

from machete_cli.render import ProgressPrinter
from machete_plugins.git_source import _progress


def test_the_server_s_progress_is_a_few_lines_per_phase() -> None:
    logged: list[str] = []
    progress = _progress(logged.append)
    updates = "".join(f"Receiving objects: {p}% ({p}/100)\r" for p in range(101))
    progress(("Counting objects: 100% (5/5), done.\n" + updates).encode())
    progress(b"Receiving objects: 100% (100/100), 1.2 MiB, done.\n")
    receiving = [line for line in logged if "Receiving" in line]
    assert len(receiving) <= 6 and receiving[-1].endswith("done.")
    assert logged[0] == "remote: Counting objects: 100% (5/5), done."


def test_on_a_terminal_progress_updates_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    printer = ProgressPrinter()
    printer.terminal = True
    for p in (10, 50, 90):
        printer.line(f"remote: Receiving objects: {p}% ({p}/100)")
    printer.step(3, 8, "manifest")
    out = capsys.readouterr().out
    assert out.count("\r") == 3 and out.count("\n") == 2  # one line, then the header
    assert "[3/8] manifest" in out


def test_in_a_log_file_every_line_stays(capsys: pytest.CaptureFixture[str]) -> None:
    printer = ProgressPrinter()
    printer.terminal = False
    printer.line("remote: Receiving objects: 10% (10/100)")
    printer.line("==> fetch")  # the log's own marker: the step header says it
    assert capsys.readouterr().out == "    remote: Receiving objects: 10% (10/100)\n"
