"""The tools' listener in a process of its own: what ``machete serve`` runs for the built-in
ingress, so that the server's other work (a deploy's fetch, build stream and records, the
health monitor, the API) never holds the interpreter while a proxied request waits.

It has its own Machete on the same state, its own router (fed by the event log, as another
server on the same database would be) and its own pool. The server started it and supervises
it (``proxy/supervisor.py``):

- the listening socket(s) are the server's, passed down as file descriptors (``--fd``), so a
  restarted listener keeps the port and connections made meanwhile wait in its backlog;
- its settings come as the first line of standard input (``Settings.as_env`` as JSON; never
  the command line or the environment, which other users may read). Standard input stays
  open: each further line is one of the server's own events it must act on at once (a
  release gone live, a tool stopped, a change of access: ``{"kind": ..., "tool": ...}``),
  which the event log would bring only a poll later; its end means the server is gone, and
  this process ends too;
- it writes ``ready`` on standard output once it serves, and logs to standard error as the
  server does;
- its proxy metrics are served on a unix socket (``--metrics``) that the server's
  ``/metrics`` reads and adds to its own;
- SIGTERM stops it, letting requests in flight finish; SIGINT (a terminal's Ctrl-C reaches
  the whole process group) is left to the server, which then stops it.

    python -m machete_web.proxy.worker --fd N [--fd M ...] --metrics PATH < settings
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiohttp import web

from machete_core.domain.operations import SYSTEM
from machete_core.machete import create_machete
from machete_core.settings import Settings
from machete_core.state.views import EventRecord
from machete_plugins import BUILTIN_PLUGINS
from machete_plugins.prometheus import PlatformMetrics
from machete_plugins.prometheus.metrics import CONTENT_TYPE
from machete_web.event_feed import EventFeed, forget_principals
from machete_web.keys import (
    BACKGROUND_TASKS,
    EVENT_FEED,
    EXECUTOR,
    HTTP_CLIENT,
    MACHETE,
    METRICS,
    ROUTER,
    TOOLS_LISTENER,
    ToolsListener,
)
from machete_web.proxy.app import create_tools_app
from machete_web.proxy.clients import tool_client
from machete_web.router import Router

log = logging.getLogger(__name__)
READY = "ready"
STDIN = 0
#: Seconds requests in flight get to finish when the listener stops.
SHUTDOWN_S = 10.0


def create_platform(settings: Settings) -> web.Application:
    """What the tools application reads (its ``PLATFORM``) in this process; served itself
    only on the metrics socket."""
    app = web.Application()
    app[MACHETE] = create_machete(settings, builtins=BUILTIN_PLUGINS)
    app[METRICS] = PlatformMetrics.for_proxy(enabled=settings.metrics)
    app[TOOLS_LISTENER] = ToolsListener()
    app.router.add_get("/metrics", _metrics)
    app.cleanup_ctx.append(_platform_ctx)
    return app


async def _platform_ctx(app: web.Application) -> AsyncIterator[None]:
    machete = app[MACHETE]
    executor = ThreadPoolExecutor(
        max_workers=machete.settings.workers, thread_name_prefix="machete-tools"
    )
    app[EXECUTOR] = executor
    app[BACKGROUND_TASKS] = set()
    # No promotion happens in this process: changes of route come from the server (its pipe)
    # or, made by other processes, from the event log.
    app[ROUTER] = Router(machete, machete.settings.route_cache_seconds)
    feed = EventFeed(machete, executor)
    feed.listen(app[ROUTER].on_recorded_event)
    feed.listen(forget_principals(machete))
    feed.listen(_forget_removed_tools(app[METRICS]))
    app[EVENT_FEED] = feed
    app[HTTP_CLIENT] = tool_client()
    reading = asyncio.create_task(feed.run())
    await feed.ready.wait()
    yield
    reading.cancel()
    pending: set[asyncio.Task[Any]] = app[BACKGROUND_TASKS]
    for task in list(pending):
        task.cancel()
    await app[HTTP_CLIENT].close()
    executor.shutdown(wait=True)
    machete.close()


def _forget_removed_tools(metrics: PlatformMetrics) -> Callable[[EventRecord], None]:
    def listener(event: EventRecord) -> None:
        if event.kind == "tool.removed" and event.tool:
            metrics.observer.forget_tool(event.tool)

    return listener


async def _metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS].render()  # counters in memory only: no need of the pool
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


class ServerPipe:
    """Standard input after the settings: the server's events, a JSON line each, until it
    ends (the server is gone)."""

    def __init__(self, feed: EventFeed, stop: asyncio.Event, pending: bytes) -> None:
        self.feed = feed
        self.stop = stop
        self.buffer = bytearray(pending)

    def readable(self) -> None:
        chunk = os.read(STDIN, 65536)
        if not chunk:
            asyncio.get_running_loop().remove_reader(STDIN)
            self.stop.set()
            return
        self.buffer.extend(chunk)
        self.lines()

    def lines(self) -> None:
        while (end := self.buffer.find(b"\n")) >= 0:
            line = bytes(self.buffer[:end])
            del self.buffer[: end + 1]
            try:
                told = json.loads(line)
                kind, tool = str(told["kind"]), told.get("tool")
                # A release going live comes with its number and route (see the router).
                data = {k: told[k] for k in ("release", "route") if k in told}
            except (ValueError, KeyError, TypeError):
                log.warning("the server sent a line that is no event: %.80r", line)
                continue
            # Heard, not read from the log: no id of its own (the log's copy comes later).
            self.feed.tell(EventRecord(0, time.time(), kind, tool, None, data, SYSTEM))


async def serve(
    settings: Settings, fds: list[int], metrics_socket: Path, pending: bytes = b""
) -> None:
    platform = web.AppRunner(create_platform(settings), access_log=None)
    await platform.setup()
    # What start-up made lives as long as the process: the collector need never walk it
    # again (its full collections were among the pauses a proxied request could meet).
    gc.collect()
    gc.freeze()
    sockets = [socket.socket(fileno=fd) for fd in fds]
    platform.app[TOOLS_LISTENER].port = int(sockets[0].getsockname()[1])
    # Tool requests whose client left are cancelled, never sent on to a tool.
    tools = web.AppRunner(
        create_tools_app(platform.app),
        access_log=None,
        handler_cancellation=True,
        shutdown_timeout=SHUTDOWN_S,
    )
    await tools.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    pipe = ServerPipe(platform.app[EVENT_FEED], stop, pending)
    pipe.lines()
    # The server's end of standard input closes when it exits, however it exits.
    loop.add_reader(STDIN, pipe.readable)
    try:
        metrics_socket.unlink(missing_ok=True)
        await web.UnixSite(platform, str(metrics_socket)).start()
        os.chmod(metrics_socket, 0o600)
        for sock in sockets:
            await web.SockSite(tools, sock).start()
        sys.stdout.write(READY + "\n")
        sys.stdout.flush()
        await stop.wait()
    finally:
        loop.remove_reader(STDIN)
        await tools.cleanup()
        await platform.cleanup()


def read_settings() -> tuple[Settings, bytes] | None:
    """The first line of standard input, read unbuffered (what follows it is the server's
    events, returned for :class:`ServerPipe`); None when the server went away first."""
    data = b""
    while b"\n" not in data:
        chunk = os.read(STDIN, 65536)
        if not chunk:
            return None
        data += chunk
    line, _, rest = data.partition(b"\n")
    environ: dict[str, str] = json.loads(line)
    return Settings.from_env(environ=environ), rest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m machete_web.proxy.worker")
    parser.add_argument("--fd", type=int, action="append", required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    received = read_settings()
    if received is None:
        return 2  # the server went away before it sent them
    settings, pending = received
    # Imported here: it loads structlog, and configures logging as `machete serve` does.
    from machete_cli import log_format

    log_format.configure()
    event_loop_runner()(serve(settings, args.fd, args.metrics, pending))
    return 0


def event_loop_runner() -> Callable[[Coroutine[Any, Any, None]], None]:
    """uvloop's event loop where it is installed (a dependency on Linux and macOS): its loop
    and transports in C take about a tenth off each proxied request's CPU, and the rest of
    aiohttp runs on it unchanged. asyncio's own loop elsewhere."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


if __name__ == "__main__":
    sys.exit(main())
