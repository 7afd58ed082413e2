"""``machete serve`` as a real process, and small clients for its API."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.http import TOKENS, request
from tests.support.ports import free_port

#: The tools listener of each running server, by the server's API base URL.
TOOLS_BASE: dict[str, str] = {}
#: Where each running server's log (its stderr) is written, by its API base URL.
SERVER_LOGS: dict[str, Path] = {}


def tools_base(base: str) -> str:
    """The tools' own origin of the server at ``base`` (tools are never on the API's)."""
    return TOOLS_BASE[base]


@contextmanager
def running_server(env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Start ``machete serve`` on a free loopback port; yield its base URL and process."""
    port = free_port()
    env = {"MACHETE_TOOLS_PORT": str(free_port()), **env}
    TOOLS_BASE[f"http://127.0.0.1:{port}"] = f"http://127.0.0.1:{env['MACHETE_TOOLS_PORT']}"
    # The server's log (an access line per request) goes to a file: a pipe nobody reads
    # would fill up and stop the server mid-test.
    log_path = Path(tempfile.mkdtemp(prefix="machete-serve-")) / "server.log"
    log_file = log_path.open("w")
    SERVER_LOGS[f"http://127.0.0.1:{port}"] = log_path
    proc = subprocess.Popen(
        [sys.executable, "-m", "machete_cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log_file,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    token = owner_token(env)
    TOKENS[f"127.0.0.1:{port}"] = token
    TOKENS[f"127.0.0.1:{env['MACHETE_TOOLS_PORT']}"] = token
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if request(base + "/api/health", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the server did not start: {log_path.read_text()[-4000:]}")
            time.sleep(0.1)
        yield base, proc
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log_file.close()


def owner_token(env: dict[str, str]) -> str:
    """An owner and an all-scopes token on the server's state, made on the host (as an admin
    would with `machete users add` and `machete tokens create`)."""
    from machete_core.machete import create_machete
    from machete_core.settings import Settings
    from tests.support.people import token_for

    machete = create_machete(Settings.from_env(env))
    try:
        return token_for(machete)
    finally:
        machete.close()


def call(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    status, raw = request(url, method, body, timeout=30)
    return status, json.loads(raw)


def wait_op(base: str, op_id: str, timeout: float = 120) -> dict[str, Any]:
    """Follow an operation through the API (its log by offset) until it ends."""
    deadline = time.monotonic() + timeout
    offset, text = 0, ""
    while time.monotonic() < deadline:
        _s, log = call("GET", f"{base}/api/operations/{op_id}/log?offset={offset}")
        text += log["text"]
        offset = log["next_offset"]
        _s, data = call("GET", f"{base}/api/operations/{op_id}")
        if data["operation"]["done"] and log["done"] and not log["text"]:
            data["operation"]["log_text"] = text
            return data["operation"]  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise AssertionError(f"operation {op_id} did not finish")
