"""Loopback ports for the servers the tests start.

A port the kernel hands out for ``bind(0)`` comes from its ephemeral range, the same range
every outgoing connection (Caddy to an upstream, a client to the engine) takes its local port
from; between our picking such a port and the server binding it, one of those connections can
take it (CI saw ``address already in use`` that way). So ports are picked below that range,
where nothing is handed out on its own, each checked free and none handed out twice in one
test process.
"""

from __future__ import annotations

import functools
import random
import socket
from pathlib import Path

_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 10000
_handed_out: set[int] = set()


@functools.cache
def _ephemeral_start() -> int:
    try:
        return int(_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port() -> int:
    """A loopback TCP port nothing listens on, outside the ephemeral range."""
    top = _ephemeral_start()
    # ``random`` is seeded from the OS in each process: two pytest processes side by side
    # pick apart.
    for _ in range(1000):
        port = random.randrange(_LOWEST, top)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free loopback port between {_LOWEST} and {top}")
