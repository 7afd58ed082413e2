"""What the metrics cost a proxied request: latency with ``MACHETE_METRICS`` on versus off, in
one run.

Two installations side by side, identical but for the metrics setting, each serving its tools
listener on loopback in front of the same bare aiohttp tool (a small page). One client sends
requests one at a time, alternating between the two sides request by request (``--requests``
pairs per round, ``--rounds`` rounds), so both see the same machine; each request is public
(no sign-in). Reported: each round's p50 of each side (min, median and max over the rounds),
the ratio of the medians, and p90 over all rounds. Budget: at most 1.05 (issue 17).

    python -m bench.metrics_overhead [--rounds 5] [--requests 400] [--record]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from aiohttp import ClientSession, web

from bench import report
from bench.api_list import MemoryRuntime
from bench.fake_tools import populate
from machete_core.domain.records import Endpoint
from machete_core.machete import Machete, create_machete
from machete_core.plugins import hookimpl
from machete_core.plugins.records import RuntimeProvider
from machete_core.settings import Settings
from machete_plugins import BUILTIN_PLUGINS

BUDGET = 1.05
TOOL_PORT: dict[str, int] = {}


class LoopbackRuntime(MemoryRuntime):
    """Every instance is the bench's bare tool."""

    def endpoint(self, instance_id: str, port: int) -> Endpoint:
        return Endpoint("127.0.0.1", TOOL_PORT["port"])


class LoopbackPlugin:
    @hookimpl
    def machete_register_runtimes(self) -> list[RuntimeProvider]:
        return [RuntimeProvider(name="memory", factory=LoopbackRuntime)]  # type: ignore[arg-type]


def installation(home: Path, *, metrics: bool) -> Machete:
    settings = Settings(
        home=home,
        installation=f"bench-{uuid.uuid4().hex[:6]}",
        reconcile_interval=0,
        health_check_interval=0,
        default_runtime="memory",
        metrics=metrics,
    )
    m = create_machete(settings, builtins=BUILTIN_PLUGINS)
    m.plugins.register(LoopbackPlugin(), "memory")
    populate(m, 1, runtime="memory", instance_id=lambda i: f"i-{i}")
    m.store.update_tool(m.store.get_tool("tool-0000").id, access="public")
    return m


async def _serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


@asynccontextmanager
async def tools_listener(m: Machete) -> AsyncIterator[str]:
    from machete_web import create_app
    from machete_web.proxy.app import create_tools_app

    async with AsyncExitStack() as stack:
        api_runner, _ = await _serve(create_app(machete=m))
        stack.push_async_callback(api_runner.cleanup)
        tools_runner, port = await _serve(create_tools_app(api_runner.app))
        stack.push_async_callback(tools_runner.cleanup)
        yield f"http://127.0.0.1:{port}/tools/tool-0000/"


async def timed(session: ClientSession, url: str) -> float:
    started = time.perf_counter()
    async with session.get(url) as resp:
        await resp.read()
        assert resp.status == 200, resp.status
    return time.perf_counter() - started


async def measure(
    on: Machete, off: Machete, rounds: int, count: int
) -> dict[str, list[list[float]]]:
    async def page(_request: web.Request) -> web.Response:
        return web.Response(text="hello from the tool\n" * 20)

    tool = web.Application()
    tool.router.add_get("/{tail:.*}", page)
    tool_runner, TOOL_PORT["port"] = await _serve(tool)
    took: dict[str, list[list[float]]] = {"on": [], "off": []}
    try:
        async with tools_listener(on) as url_on, tools_listener(off) as url_off:
            async with ClientSession() as session:
                for _ in range(50):  # warm both (routes cached, connections open)
                    await timed(session, url_on)
                    await timed(session, url_off)
                for round_ in range(rounds):
                    # Request by request, alternating (and which goes first, by round): a
                    # burst of load on the machine falls on both sides alike.
                    first, second = ("on", "off") if round_ % 2 == 0 else ("off", "on")
                    urls = {"on": url_on, "off": url_off}
                    took["on"].append([])
                    took["off"].append([])
                    for _ in range(count):
                        took[first][-1].append(await timed(session, urls[first]))
                        took[second][-1].append(await timed(session, urls[second]))
    finally:
        await tool_runner.cleanup()
    return took


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q * 100) - 1]


def main() -> int:
    parser = report.parser(__doc__, rounds=5)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="machete-bench-") as tmp:
        on = installation(Path(tmp) / "on", metrics=True)
        off = installation(Path(tmp) / "off", metrics=False)
        try:
            took = asyncio.run(measure(on, off, args.rounds, args.requests))
        finally:
            on.close()
            off.close()
    p50 = {side: [statistics.median(r) * 1000 for r in rounds] for side, rounds in took.items()}
    result = report.Report("metrics_overhead", "python -m bench.metrics_overhead", args.rounds)
    result.compare(
        "p50 of a proxied request, metrics on / off",
        p50["on"],
        p50["off"],
        unit="ms",
        fmt=".3f",
        budget=BUDGET,
    )
    for side in ("on", "off"):
        every = [t for r in took[side] for t in r]
        result.note(f"metrics {side}: p90 over all rounds {quantile(every, 0.9) * 1000:.3f} ms")
    return result.finish(args.record)


if __name__ == "__main__":
    sys.exit(main())
