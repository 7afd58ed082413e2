"""Caddy for the tests: Debian's ``caddy`` program, managed by MACHETE or started here as an
operator's ("external") one with its admin API on a loopback port."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from machete_core.settings import Settings
from tests.support.ports import free_port


def caddy_binary() -> str:
    found = shutil.which("caddy")
    if found is None:
        pytest.fail("these tests need Debian's caddy package: run scripts/setup.sh")
    return found


def caddy_settings(home: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "home": home,
        "installation": "c" + uuid.uuid4().hex[:8],
        "ingress": "caddy",
        "port": free_port(),
        "tools_port": free_port(),
        "caddy_https_port": free_port(),
        "caddy_binary": caddy_binary(),
    }
    values.update(overrides)
    return Settings(**values)


def caddy_env(**extra: str) -> dict[str, str]:
    """What makes ``machete serve`` run Caddy as its ingress (the tools port is the tools'
    origin either way: ``running_server`` picks it)."""
    return {
        "MACHETE_INGRESS": "caddy",
        "MACHETE_CADDY_BINARY": caddy_binary(),
        "MACHETE_CADDY_HTTPS_PORT": str(free_port()),
        **extra,
    }


@contextmanager
def external_caddy(root: Path, extra_routes: list[dict[str, Any]] | None = None) -> Iterator[str]:
    """An operator's Caddy: admin API on a loopback port, one site of its own on another
    port (``extra_routes``); yields the admin address (``http://127.0.0.1:PORT``)."""
    root.mkdir(parents=True, exist_ok=True)
    admin = free_port()
    config = {
        "admin": {"listen": f"127.0.0.1:{admin}"},
        "storage": {"module": "file_system", "root": str(root / "data")},
        "apps": {
            "http": {
                "servers": {
                    "operator": {
                        "listen": [f"127.0.0.1:{free_port()}"],
                        "routes": extra_routes or [],
                    }
                }
            }
        },
    }
    (root / "caddy.json").write_text(json.dumps(config))
    log = open(root / "caddy.log", "ab")
    proc = subprocess.Popen(
        [caddy_binary(), "run", "--config", str(root / "caddy.json")],
        stdout=log,
        stderr=log,
        env={"HOME": str(root), "XDG_DATA_HOME": str(root / "data"), "PATH": "/usr/bin:/bin"},
    )
    log.close()
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", admin), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError((root / "caddy.log").read_text()[-2000:]) from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{admin}"
    finally:
        proc.terminate()
        proc.wait(10)
