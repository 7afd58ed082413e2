"""The HTTP client session tools are reached with: one per process that reaches them (the
server, for health probes and its proxy; the tools' listener in its own process)."""

from __future__ import annotations

import aiohttp


def tool_client() -> aiohttp.ClientSession:
    """Call from a running event loop; close it with the application that made it."""
    return aiohttp.ClientSession(
        # Tools answer on loopback; never through a proxy from the environment.
        trust_env=False,
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=5),
        # No shared cap: the tools listener bounds connections per tool (ToolLimits), so one
        # hanging tool cannot take every slot.
        connector=aiohttp.TCPConnector(limit=0, force_close=False),
        auto_decompress=False,
        # One session serves every person: a tool's cookies are never kept in it (and
        # neither matching nor storing them costs anything per request).
        cookie_jar=aiohttp.DummyCookieJar(),
    )
