"""Managed Caddy: the server's child, with its own configuration and data directories under
the state directory and its admin API on a unix socket (never a TCP port a tool container
could reach). A Caddy that dies is started again and the caller told, so the routes (kept
only in the database and Caddy's memory) are published again.

Caddy runs in a session of its own: a server killed outright leaves it serving, and the
next server adopts it (its admin socket answers) instead of starting another, so a platform
restart is not a data-plane restart. A graceful stop of the server stops it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from machete_core.errors import IngressError
from machete_core.private_files import write_private
from machete_core.settings import Settings
from machete_plugins.caddy.admin import AdminClient
from machete_plugins.caddy.config import base_config

log = logging.getLogger(__name__)

#: Seconds Caddy has to answer on its admin socket after starting.
START_TIMEOUT = 20.0
#: Restarts back off from this, doubling, up to a minute.
RESTART_BACKOFF = 0.5


#: Linux 5.14+: connections queued on a closed SO_REUSEPORT socket go to its sibling.
MIGRATE_REQ = Path("/proc/sys/net/ipv4/tcp_migrate_req")


def handover_warning() -> str | None:
    """Why a change of routes may reset a few connections on this machine, if it may."""
    try:
        if MIGRATE_REQ.read_text().strip() == "1":
            return None
    except OSError:
        return "this kernel cannot hand queued connections over between Caddy's sockets"
    return (
        "net.ipv4.tcp_migrate_req is 0: each change of routes may reset connections that "
        "are queued at that moment; `sysctl -w net.ipv4.tcp_migrate_req=1` (docs/ingress.md)"
    )


def admin_socket(settings: Settings) -> Path:
    return settings.run_dir / "caddy-admin.sock"


class ManagedCaddy:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.home / "caddy"
        self.socket = admin_socket(settings)
        self.client = AdminClient(f"unix/{self.socket}")
        self.pidfile = self.socket.with_name("caddy.pid")
        self._process: subprocess.Popen[bytes] | None = None
        #: A Caddy a previous server left running, taken over instead of a new one.
        self._adopted: int | None = None
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else self._adopted

    def start(self, on_restart: Callable[[], None]) -> None:
        self._stopping.clear()
        warning = handover_warning()
        if warning:
            log.warning("%s", warning)
        left = self._left_running()
        if left is not None:
            log.info("taking over the Caddy a previous server left running (pid %s)", left)
            self._adopted = left
        else:
            self._spawn()
        self._watcher = threading.Thread(
            target=self._watch, args=(on_restart,), name="machete-caddy", daemon=True
        )
        self._watcher.start()

    def _left_running(self) -> int | None:
        """The pid of a Caddy of this installation that answers on its socket, if any."""
        if not self.socket.exists() or self.client.answers() is not None:
            return None
        try:
            pid = int(self.pidfile.read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def environment(self) -> dict[str, str]:
        """What Caddy's process is given: nothing of the server's own environment but PATH
        and Go's tuning."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.root),
            "XDG_CONFIG_HOME": str(self.root / "config"),
            "XDG_DATA_HOME": str(self.root / "data"),
            # Go's scheduler keeps a thread spinning for work on every CPU it may use: on a
            # small machine that is CPU the tools behind Caddy need (docs/ingress.md).
            "GOMAXPROCS": str(self.settings.effective_caddy_cpus),
        }
        for name in ("GOGC", "GOMEMLIMIT"):  # Go's own tuning, when an operator sets it
            if name in os.environ:
                env[name] = os.environ[name]
        return env

    def _spawn(self) -> None:
        for sub in ("config", "data", "logs"):
            (self.root / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        self.socket.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.socket.parent, 0o700)
        self.socket.unlink(missing_ok=True)
        config = write_private(
            self.root / "config" / "caddy.json",
            json.dumps(base_config(self.settings, str(self.socket)), indent=2),
        )
        env = self.environment()
        out = open(self.root / "logs" / "caddy.log", "ab")
        try:
            process = subprocess.Popen(
                [
                    self.settings.caddy_binary,
                    "run",
                    "--config",
                    str(config),
                    "--pidfile",
                    str(self.pidfile),
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env=env,
                cwd=self.root,
                start_new_session=True,
            )
        except OSError as exc:
            raise IngressError(
                f"could not start Caddy ({self.settings.caddy_binary}): {exc}; install it "
                "(apt-get install caddy) or set MACHETE_CADDY_BINARY"
            ) from None
        finally:
            out.close()
        with self._lock:
            self._process = process
            self._adopted = None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise IngressError(
                    f"Caddy exited at start (code {process.returncode}); see "
                    f"{self.root / 'logs' / 'caddy.log'}"
                )
            if self.socket.exists() and self.client.answers() is None:
                return
            time.sleep(0.05)
        raise IngressError(f"Caddy did not answer on {self.socket} within {START_TIMEOUT:g}s")

    def _wait_for_exit(self) -> int | None:
        """Until the Caddy in charge exits (a child is waited for; an adopted one, not
        ours to wait for, is looked at twice a second)."""
        process = self._process
        if process is not None:
            return process.wait()
        while self._adopted is not None and not self._stopping.wait(0.5):
            try:
                os.kill(self._adopted, 0)
            except ProcessLookupError:
                return None
        return None

    def _watch(self, on_restart: Callable[[], None]) -> None:
        backoff = RESTART_BACKOFF
        while not self._stopping.is_set():
            code = self._wait_for_exit()
            if self._stopping.is_set():
                return
            log.warning("Caddy exited (code %s); starting it again", code)
            while not self._stopping.is_set():
                try:
                    self._spawn()
                    break
                except IngressError as exc:
                    log.error("%s; trying again in %gs", exc.message, backoff)
                    self._stopping.wait(backoff)
                    backoff = min(60.0, backoff * 2)
            else:
                return
            backoff = RESTART_BACKOFF
            try:
                on_restart()
            except Exception:
                log.exception("publishing the routes again after Caddy's restart failed")

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            process, adopted = self._process, self._adopted
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        elif adopted is not None:
            _stop_pid(adopted)
        if self._watcher is not None:
            self._watcher.join(timeout=10)
        self.socket.unlink(missing_ok=True)
        self.pidfile.unlink(missing_ok=True)


def _stop_pid(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
