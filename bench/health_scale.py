"""The health monitor over 1,000 tools: CPU it uses, as a share of one core.

1,000 health endpoints are served on loopback (one port each) by a separate process, so only
the monitor's own work is counted. The monitor runs as in ``machete serve`` (the app's
background task, every 10 s) against 1,000 installed tools whose instances answer at those
ports. After a first round (which records every tool's first health), the process's CPU time
(user + system, all threads) is divided by the wall time of each following round (one
interval), and over the whole run, which has the budget: under 5% of one core.

    python -m bench.health_scale [--tools 1000] [--rounds 6] [--interval 10] [--record]
"""

from __future__ import annotations

import asyncio
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

from bench import report
from bench.fake_tools import populate
from machete_core.domain.records import Endpoint, InstanceState
from machete_core.machete import Machete, create_machete
from machete_core.plugins import hookimpl
from machete_core.plugins.records import RuntimeProvider
from machete_core.settings import Settings
from machete_plugins import BUILTIN_PLUGINS

BUDGET = 0.05

SERVER = """
import asyncio, sys
from aiohttp import web

async def health(request):
    return web.Response(text="ok")

async def main(count):
    app = web.Application()
    app.router.add_get("/health", health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    ports = []
    for _ in range(count):
        # Port 0: the OS chooses, so nothing collides with connections in TIME-WAIT.
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=64)
        await site.start()
        ports.append(site._server.sockets[0].getsockname()[1])
    print("ready " + ",".join(map(str, ports)), flush=True)
    await asyncio.Event().wait()

asyncio.run(main(int(sys.argv[1])))
"""


class LoopbackRuntime:
    """Instance ``port-N`` answers at 127.0.0.1:N (the endpoint server of this benchmark)."""

    def __init__(self, settings: Settings) -> None:
        pass

    def endpoint(self, instance_id: str, port: int) -> Endpoint:
        return Endpoint("127.0.0.1", int(instance_id.split("-")[1]))

    def inspect(self, instance_id: str) -> InstanceState:
        return InstanceState(id=instance_id, name=instance_id, state="running")

    def list(self, selector: Mapping[str, str]) -> list[InstanceState]:
        return []

    def cleanup(self, selector: Mapping[str, str]) -> None:
        pass


class LoopbackPlugin:
    @hookimpl
    def machete_register_runtimes(self) -> list[RuntimeProvider]:
        return [RuntimeProvider(name="loopback", factory=LoopbackRuntime)]  # type: ignore[arg-type]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(
    m: Machete, count: int, rounds: int, interval: float
) -> tuple[float, list[float]]:
    from aiohttp import web

    from machete_web import create_app

    runner = web.AppRunner(create_app(machete=m))
    await runner.setup()  # runs the cleanup contexts: the monitor starts
    try:
        # The first round records every tool's first health: wait until it is through.
        deadline = time.monotonic() + interval * 3 + 60
        while len(m.store.recent_events(count + 10)) < count:
            assert time.monotonic() < deadline, "the first round never finished"
            await asyncio.sleep(0.5)
        # One window per interval (a window need not hold exactly one round: a round takes
        # time beyond the interval's sleep), and the whole run, which is the verdict.
        shares = []
        first_wall, first_cpu = time.monotonic(), cpu_seconds()
        for _ in range(rounds):
            started_wall, started_cpu = time.monotonic(), cpu_seconds()
            await asyncio.sleep(interval)
            wall, cpu = time.monotonic() - started_wall, cpu_seconds() - started_cpu
            shares.append(cpu / wall)
        whole = (cpu_seconds() - first_cpu) / (time.monotonic() - first_wall)
    finally:
        await runner.cleanup()
    return whole, shares


def main() -> int:
    parser = report.parser(__doc__, rounds=6)
    parser.add_argument("--tools", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=10.0)
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(args.tools)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        word, _, listed = server.stdout.readline().strip().partition(" ")
        assert word == "ready", word
        ports = [int(p) for p in listed.split(",")]
        with tempfile.TemporaryDirectory(prefix="machete-bench-") as tmp:
            settings = Settings(
                home=Path(tmp),
                installation=f"bench-{uuid.uuid4().hex[:6]}",
                health_check_interval=args.interval,
                reconcile_interval=0,
                health_concurrency=64,
            )
            m = create_machete(settings, builtins=BUILTIN_PLUGINS)
            m.plugins.register(LoopbackPlugin(), "loopback")
            populate(m, args.tools, runtime="loopback", instance_id=lambda i: f"port-{ports[i]}")
            whole, shares = asyncio.run(measure(m, args.tools, args.rounds, args.interval))
            recorded = sum(1 for t in m.store.list_tools() if m.store.health_history(t.id, 1))
            m.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    result = report.Report("health_scale", "python -m bench.health_scale", args.rounds)
    what = f"monitor CPU, share of one core ({args.tools} tools, every {args.interval:g} s)"
    result.measure(f"{what}, whole run", [whole * 100], unit="%", fmt=".1f", budget=BUDGET * 100)
    result.measure(
        f"{what}, each {args.interval:g} s window",
        [share * 100 for share in shares],
        unit="%",
        fmt=".1f",
        budget=None,
    )
    result.measure(
        "tools without a recorded health", [args.tools - recorded], unit="", fmt=".0f", budget=0
    )
    return result.finish(args.record)


if __name__ == "__main__":
    sys.exit(main())
