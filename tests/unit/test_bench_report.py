"""How benchmarks report (bench/report.py): spreads, verdicts, and the results blocks they
write into docs/benchmarks.md."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest

from bench import report

ROOT = Path(__file__).resolve().parents[2]


def test_ratio_of_medians_and_verdicts() -> None:
    r = report.Report("x", "python -m bench.x", rounds=3)
    slower = r.compare("ours / theirs", [1.0, 3.0, 2.0], [1.0, 1.0, 4.0], unit="s", budget=1.5)
    assert (slower.ours.min, slower.ours.median, slower.ours.max) == (1.0, 2.0, 3.0)
    assert slower.figure == pytest.approx(2.0)
    assert not slower.ok and "OVER BUDGET" in slower.verdict
    fast = r.compare(
        "rate", [900, 1000, 1100], [1800, 2000, 2200], unit="req/s", budget=0.5, at_least=True
    )
    assert fast.figure == pytest.approx(0.5) and fast.ok
    one_sided = r.measure("share", [4.0, 6.0, 4.5], unit="%", budget=5)
    assert one_sided.figure == 4.5 and one_sided.ok
    info = r.measure("info", [100.0], unit="ms", budget=None)
    assert info.ok and info.verdict == "(information)"
    assert not r.ok  # one row over budget fails the benchmark
    assert r.finish(record=False) == 1


def test_results_block_names_date_commit_rounds_and_spread() -> None:
    r = report.Report("x", "python -m bench.x", rounds=5)
    r.compare("ours / theirs", [1.0, 1.1, 1.2], [1.0, 1.0, 1.0], unit="s", fmt=".2f", budget=2)
    r.note("something measured beside")
    block = report.results_block(r, datetime.date(2026, 12, 3), "abc1234")
    assert "2026-12-03" in block and "`abc1234`" in block and "5 rounds" in block
    assert "within budget" in block
    assert (
        "| ours / theirs | 1.00 / 1.10 / 1.20 s | 1.00 / 1.00 / 1.00 s | 1.10 | <= 2: OK |" in block
    )
    assert "- something measured beside" in block


def test_a_block_replaces_only_its_own_results() -> None:
    text = (
        "# Doc\n\nprose a\n<!-- results:a -->\nold a\n<!-- /results:a -->\nprose b\n"
        "<!-- results:b -->\nold b\n<!-- /results:b -->\n"
    )
    new = report.replace_block(text, "a", "new a\nline 2")
    assert "new a\nline 2" in new and "old a" not in new
    assert "old b" in new and "prose a" in new and "prose b" in new
    assert report.replace_block(new, "a", "again").count("<!-- results:a -->") == 1
    empty = "<!-- results:a -->\n<!-- /results:a -->\n"
    assert report.replace_block(empty, "a", "first") == (
        "<!-- results:a -->\nfirst\n<!-- /results:a -->\n"
    )
    with pytest.raises(SystemExit):
        report.replace_block(text, "c", "anything")


def test_every_benchmark_has_a_results_block_in_the_docs() -> None:
    docs = (ROOT / "docs" / "benchmarks.md").read_text()
    names = set()
    for path in (ROOT / "bench").glob("*.py"):
        names.update(re.findall(r'report\.Report\(\s*"([a-z_0-9]+)"', path.read_text()))
    names.update({"deploy_overhead", "deploy_overhead_local"})  # named by its mode
    assert len(names) >= 10
    for name in names:
        assert f"<!-- results:{name} -->" in docs and f"<!-- /results:{name} -->" in docs, name
        assert "measured here" in report.replace_block(docs, name, "measured here")
