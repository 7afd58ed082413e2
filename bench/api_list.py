"""``GET /api/tools`` against a bare aiohttp handler returning the same JSON, in one run.

For 10 and 1,000 tools (instances of a runtime that answers from memory, so the engine is not
measured; their observations are filled once, as ``machete serve``'s event stream keeps them),
a client with 20 connections sends requests for ``--seconds`` to each side in turn, ``--rounds``
times, alternating. Reported: requests per second of each side (min, median, max) and the ratio
of the medians. Budget: at least 0.5 (issue 10 item 14).

    python -m bench.api_list [--rounds 3] [--seconds 3] [--tools 10,1000] [--record]
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import ClientSession, TCPConnector, web

from bench import report
from bench.environment import log_as_served
from bench.fake_tools import populate
from machete_core.access.actions import SCOPES
from machete_core.domain.records import Endpoint, InstanceState
from machete_core.machete import Machete, create_machete
from machete_core.plugins import hookimpl
from machete_core.plugins.records import RuntimeProvider
from machete_core.settings import Settings
from machete_core.views import to_data
from machete_plugins import BUILTIN_PLUGINS

BUDGET = 0.5
CONNECTIONS = 20


class MemoryRuntime:
    def __init__(self, settings: Settings) -> None:
        pass

    def inspect(self, instance_id: str) -> InstanceState:
        return InstanceState(id=instance_id, name=instance_id, state="running")

    def endpoint(self, instance_id: str, port: int) -> Endpoint:
        return Endpoint("127.0.0.1", 1)

    def list(self, selector: Mapping[str, str]) -> list[InstanceState]:
        return []


class MemoryPlugin:
    @hookimpl
    def machete_register_runtimes(self) -> list[RuntimeProvider]:
        return [RuntimeProvider(name="memory", factory=MemoryRuntime)]  # type: ignore[arg-type]


async def hammer(url: str, seconds: float, headers: dict[str, str] | None = None) -> float:
    """Requests per second over ``seconds`` with CONNECTIONS clients."""
    done = 0
    deadline = time.monotonic() + seconds
    async with ClientSession(
        connector=TCPConnector(limit=CONNECTIONS), headers=headers or {}
    ) as session:

        async def client() -> None:
            nonlocal done
            while time.monotonic() < deadline:
                async with session.get(url) as resp:
                    await resp.read()
                    assert resp.status == 200
                done += 1

        started = time.monotonic()
        await asyncio.gather(*(client() for _ in range(CONNECTIONS)))
        return done / (time.monotonic() - started)


@asynccontextmanager
async def beside_bare(m: Machete) -> AsyncIterator[tuple[str, str]]:
    """``machete serve``'s app on ``m`` and a bare aiohttp handler answering ``/api/tools``
    with the same JSON document, both on loopback: (the app's base URL, the bare URL)."""
    from machete_web import create_app

    api = web.AppRunner(create_app(machete=m), access_log=None)
    await api.setup()
    m.observed.watched = True  # as while machete serve follows the engine's events
    body = json.dumps({"tools": to_data(m.list_tools())})

    async def bare_handler(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="application/json")

    bare_app = web.Application()
    bare_app.router.add_get("/api/tools", bare_handler)
    bare = web.AppRunner(bare_app, access_log=None)
    await bare.setup()
    sites = [web.TCPSite(api, "127.0.0.1", 0), web.TCPSite(bare, "127.0.0.1", 0)]
    for site in sites:
        await site.start()
    ports = [s._server.sockets[0].getsockname()[1] for s in sites]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}/api/tools"
    finally:
        await api.cleanup()
        await bare.cleanup()


async def measure(m: Machete, rounds: int, seconds: float) -> tuple[list[float], list[float]]:
    # Signed in as every real request is: an owner's token (resolved and authorized per request).
    token, _record = m.access.create_token("bench", SCOPES, user="owner")
    auth = {"Authorization": f"Bearer {token}"}
    ours, theirs = [], []
    async with beside_bare(m) as (base, bare_url):
        for i in range(rounds):
            # Which side goes first alternates too: neither always runs on a warmer machine.
            if i % 2:
                theirs.append(await hammer(bare_url, seconds))
            ours.append(await hammer(f"{base}/api/tools", seconds, auth))
            if not i % 2:
                theirs.append(await hammer(bare_url, seconds))
    return ours, theirs


def memory_machete(home: Path) -> Machete:
    """A fresh installation at ``home`` whose tools run on the memory runtime, with nothing
    running in the background and no rate limit (a policy, not the cost being measured)."""
    settings = Settings(
        home=home,
        installation=f"bench-{uuid.uuid4().hex[:6]}",
        reconcile_interval=0,
        health_check_interval=0,
        default_runtime="memory",
        api_rate=0.0,
    )
    m = create_machete(settings, builtins=BUILTIN_PLUGINS)
    m.plugins.register(MemoryPlugin(), "memory")
    return m


def main() -> int:
    parser = report.parser(__doc__, rounds=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--tools", default="10,1000")
    args = parser.parse_args()
    log_as_served()
    result = report.Report("api_list", "python -m bench.api_list", args.rounds)
    for count in [int(c) for c in args.tools.split(",")]:
        with tempfile.TemporaryDirectory(prefix="machete-bench-") as tmp:
            m = memory_machete(Path(tmp))
            m.access.add_user("owner", "owner", password="bench owner password")
            populate(m, count, runtime="memory", instance_id=lambda i: f"i-{i}")
            ours, theirs = asyncio.run(measure(m, args.rounds, args.seconds))
            m.close()
        result.compare(
            f"{count} tools: GET /api/tools / bare handler",
            ours,
            theirs,
            unit="req/s",
            fmt=".0f",
            budget=BUDGET,
            at_least=True,
        )
    return result.finish(args.record)


if __name__ == "__main__":
    sys.exit(main())
