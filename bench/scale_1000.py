"""1,000 installed tools: ``GET /api/tools`` and the dashboard's Tools page against a bare
aiohttp handler returning the same JSON document, one reconciler round's CPU, and the page's
size and time to first byte, in one run.

The tools' instances belong to a runtime answering from memory (as in ``bench/api_list``), so
the engine is not measured. A client with 20 connections sends requests for ``--seconds`` to
each side in turn, ``--rounds`` times, alternating; the API signs in with an owner's token, the
page with an owner's session cookie. Budgets: each throughput at least 0.5x the bare handler's;
a reconciler round under one second of CPU.

    python -m bench.scale_1000 [--tools 1000] [--rounds 3] [--seconds 3] [--record]
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import ClientSession

from bench import report
from bench.api_list import beside_bare, hammer, memory_machete
from bench.environment import log_as_served
from bench.fake_tools import populate
from machete_core.access.actions import SCOPES
from machete_core.machete import Machete

BUDGET = 0.5
RECONCILE_BUDGET_S = 1.0
PASSWORD = "bench owner password"


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def first_byte(url: str, headers: dict[str, str]) -> tuple[float, int]:
    """Median seconds to the first byte of the body over 9 requests, and the body's size."""
    times, size = [], 0
    async with ClientSession(headers=headers) as session:
        for _ in range(9):
            started = time.perf_counter()
            async with session.get(url) as resp:
                first = await resp.content.readany()
                times.append(time.perf_counter() - started)
                rest = await resp.read()
                assert resp.status == 200, resp.status
                size = len(first) + len(rest)
    return statistics.median(times), size


async def measure(m: Machete, rounds: int, seconds: float) -> dict[str, Any]:
    token, _record = m.access.create_token("bench", SCOPES, user="owner")
    bearer = {"Authorization": f"Bearer {token}"}
    session = m.auth.login("owner", PASSWORD).session
    cookie = {"Cookie": f"machete_session={session}"}
    ours_api, ours_page, theirs = [], [], []
    async with beside_bare(m) as (base, bare_url):
        for _ in range(rounds):
            ours_api.append(await hammer(f"{base}/api/tools", seconds, bearer))
            ours_page.append(await hammer(f"{base}/", seconds, cookie))
            theirs.append(await hammer(bare_url, seconds))
        page_ttfb, page_size = await first_byte(f"{base}/", cookie)
        bare_ttfb, bare_size = await first_byte(bare_url, {})
    return {
        "api": ours_api,
        "page": ours_page,
        "bare": theirs,
        "page_ttfb": page_ttfb,
        "page_size": page_size,
        "bare_ttfb": bare_ttfb,
        "bare_size": bare_size,
    }


def main() -> int:
    parser = report.parser(__doc__, rounds=3)
    parser.add_argument("--tools", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    log_as_served()
    reconcile_cpu: list[float] = []
    with tempfile.TemporaryDirectory(prefix="machete-bench-") as tmp:
        m = memory_machete(Path(tmp))
        m.access.add_user("owner", "owner", password=PASSWORD)
        populate(m, args.tools, runtime="memory", instance_id=lambda i: f"i-{i}")
        m.reconcile()  # a first round: the engine's state is read once
        for _ in range(args.rounds):
            before = cpu()
            m.reconcile()
            reconcile_cpu.append(cpu() - before)
        found = asyncio.run(measure(m, args.rounds, args.seconds))
        m.close()
    result = report.Report("scale_1000", "python -m bench.scale_1000", args.rounds)
    bare: list[float] = found["bare"]
    for label, key in (("GET /api/tools", "api"), ("Tools page", "page")):
        values: list[float] = found[key]
        result.compare(
            f"{args.tools} tools: {label} / bare handler",
            values,
            bare,
            unit="req/s",
            fmt=".0f",
            budget=BUDGET,
            at_least=True,
        )
    result.measure(
        f"{args.tools} tools: one reconciler round, CPU",
        reconcile_cpu,
        unit="s",
        fmt=".2f",
        budget=RECONCILE_BUDGET_S,
    )
    result.note(
        f"Tools page {found['page_size']} bytes, first byte after "
        f"{found['page_ttfb'] * 1000:.1f} ms (the bare JSON: {found['bare_size']} "
        f"bytes, {found['bare_ttfb'] * 1000:.1f} ms)"
    )
    return result.finish(args.record)


if __name__ == "__main__":
    sys.exit(main())
