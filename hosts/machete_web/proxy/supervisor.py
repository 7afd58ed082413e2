"""The server's side of the tools' listener process (``proxy/worker.py``): start the
listener with the tools port's sockets (``machete_web.sockets``) and the settings, start it
again when it dies, stop it with the server, and read its proxy metrics for the server's
``/metrics``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

from machete_core.domain.records import Event
from machete_core.domains import ListenerView
from machete_core.errors import MacheteError
from machete_core.machete import Machete
from machete_core.settings import Settings
from machete_core.unix_http import UnixHTTPConnection
from machete_core.views import to_data
from machete_web.proxy.worker import READY
from machete_web.router import ROUTE_CHANGES

log = logging.getLogger(__name__)

#: The server's own events the listener is told of at once: where a tool runs (and its
#: access, which rides on the route), and who people are.
TOLD = ROUTE_CHANGES | {"access.changed"}
#: Seconds a starting listener has to say it is ready.
START_TIMEOUT_S = 60.0
#: Seconds a stopping listener has to finish what is in flight before it is killed.
STOP_TIMEOUT_S = 15.0
#: Waits before each restart, doubling from the first up to the last; a listener that ran
#: this long starts the count again.
BACKOFF_S = (0.2, 10.0)
STEADY_S = 30.0
#: Seconds the server's ``/metrics`` waits for the listener's part.
METRICS_TIMEOUT_S = 2.0


class ListenerFailedError(MacheteError):
    """The tools' listener process ended before it was ready."""

    code = "tools_listener_failed"
    http_status = 500


class ListenerProcess:
    """One supervised tools' listener process on sockets this server holds."""

    def __init__(self, settings: Settings, sockets: list[socket.socket]) -> None:
        self.settings = settings
        self.sockets = sockets
        self.port = int(sockets[0].getsockname()[1])
        self.metrics_socket = settings.run_dir / "tools-metrics.sock"
        self.process: asyncio.subprocess.Process | None = None
        #: Times it was started again, and how it last ended (for ``machete ingress status``).
        self.restarts = 0
        self.last_exit: int | None = None
        self._stopping = False
        self._supervising: asyncio.Task[None] | None = None
        self._output: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the listener and wait until it serves; then keep it running."""
        self.settings.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        await self._spawn()
        self._supervising = asyncio.create_task(self._supervise())

    async def _spawn(self) -> None:
        fds = [sock.fileno() for sock in self.sockets]
        args = [sys.executable, "-m", "machete_web.proxy.worker"]
        for fd in fds:
            args += ["--fd", str(fd)]
        args += ["--metrics", str(self.metrics_socket)]
        process = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            pass_fds=fds,
        )
        self.process = process
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(json.dumps(self.settings.as_env()).encode() + b"\n")
        await process.stdin.drain()
        # stdin stays open: when this server ends, however it ends, the listener sees EOF.
        try:
            line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT_S)
        except TimeoutError:
            line = b""
        if line.decode().strip() != READY:
            await self._end(process)
            raise ListenerFailedError(
                f"the tools' listener did not start (exit status {process.returncode}; "
                "its log is above)"
            )
        self._output = asyncio.create_task(_copy_output(process.stdout))
        log.info("tools listener serving on port %d (pid %d)", self.port, process.pid)

    def follow(self, machete: Machete) -> Callable[[], None]:
        """Tell the listener of ``machete``'s events that change where a tool runs or who may
        open it, as they happen (its event log would bring them a poll later, after a client
        may have been sent to a retired instance or let in by a revoked grant). A release
        going live comes with its route, looked up here before the old instance drains, so
        the listener's requests never wait on a lookup after a switch. Call on the event
        loop; returns the unsubscriber."""
        loop = asyncio.get_running_loop()

        def heard(event: Event) -> None:
            # Events come on the core's threads; the pipe belongs to the event loop.
            if event.kind not in TOLD:
                return
            told: dict[str, Any] = {"kind": event.kind, "tool": event.tool}
            if event.kind == "release.live" and event.tool:
                told["release"] = event.data.get("release")
                try:
                    told["route"] = to_data(machete.route(event.tool))
                except MacheteError as exc:
                    # The listener looks it up itself, as for another process's switch.
                    log.warning("the new route of %s is not known yet: %s", event.tool, exc)
            loop.call_soon_threadsafe(self._tell, json.dumps(told).encode() + b"\n")

        return machete.events.subscribe(heard)

    def _tell(self, line: bytes) -> None:
        process = self.process
        if process is None or process.stdin is None or process.returncode is not None:
            return  # a listener that starts (again) has nothing cached yet
        if process.stdin.is_closing():
            return
        process.stdin.write(line)

    async def _supervise(self) -> None:
        wait = BACKOFF_S[0]
        while not self._stopping:
            process = self.process
            assert process is not None
            started = time.monotonic()
            code = await process.wait()
            if self._stopping:
                return
            self.last_exit = code
            if time.monotonic() - started > STEADY_S:
                wait = BACKOFF_S[0]
            log.error(
                "the tools listener (pid %d) ended with status %s; starting it again in %.1f s",
                process.pid,
                code,
                wait,
            )
            while not self._stopping:
                await asyncio.sleep(wait)
                wait = min(wait * 2, BACKOFF_S[1])
                if self._stopping:
                    return
                try:
                    await self._spawn()
                    self.restarts += 1
                    break
                except (ListenerFailedError, OSError) as exc:
                    log.error("%s; trying again in %.1f s", exc, wait)

    def view(self) -> ListenerView:
        """How the listener is now."""
        process = self.process
        running = process is not None and process.returncode is None and not self._stopping
        return ListenerView(
            pid=process.pid if process is not None else None,
            port=self.port,
            running=running,
            restarts=self.restarts,
            last_exit=self.last_exit,
        )

    async def stop(self) -> None:
        """Stop the listener (requests in flight may finish) and close the sockets."""
        self._stopping = True
        if self._supervising is not None:
            self._supervising.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervising
        if self.process is not None:
            await self._end(self.process)
        if self._output is not None:
            self._output.cancel()
        for sock in self.sockets:
            sock.close()
        self.metrics_socket.unlink(missing_ok=True)

    async def _end(self, process: asyncio.subprocess.Process) -> None:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                log.warning("the tools listener (pid %d) did not stop; killing it", process.pid)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if process.stdin is not None:
            process.stdin.close()

    def render_metrics(self) -> bytes:
        """The listener's metrics exposition (blocking; empty while it is not running: its
        counters start again from zero after a restart, which Prometheus reads as a reset)."""
        connection = UnixHTTPConnection(str(self.metrics_socket), METRICS_TIMEOUT_S)
        try:
            connection.request("GET", "/metrics")
            response = connection.getresponse()
            body = response.read()
            return body if response.status == 200 else b""
        except OSError as exc:
            log.warning("the tools listener's metrics could not be read: %s", exc)
            return b""
        finally:
            connection.close()


async def _copy_output(stream: asyncio.StreamReader) -> None:
    """Anything the listener prints after ``ready`` (nothing, normally) goes to our stdout."""
    while line := await stream.readline():
        sys.stdout.write(line.decode(errors="replace"))
        sys.stdout.flush()
