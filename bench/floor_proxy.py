"""The floor of any aiohttp reverse proxy: one handler that sends each request to one upstream
and streams the answer back, with nothing of MACHETE's (no routing, access checks, header
rules, request ids, metrics or access line). ``bench.swap`` measures it beside the built-in
ingress, so the part of the built-in ingress's latency that is aiohttp's own is known.

    python -m bench.floor_proxy http://UPSTREAM:PORT

Listens on a port of loopback the OS chooses and prints ``ready PORT``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

UPSTREAM = web.AppKey("upstream", str)
SESSION = web.AppKey("session", aiohttp.ClientSession)
#: Hop-by-hop headers (and the length, which aiohttp sets itself).
DROPPED = frozenset({"host", "connection", "keep-alive", "transfer-encoding", "content-length"})


async def forward(request: web.Request) -> web.StreamResponse:
    headers = {k: v for k, v in request.headers.items() if k.lower() not in DROPPED}
    async with request.app[SESSION].request(
        request.method,
        request.app[UPSTREAM] + request.raw_path,
        headers=headers,
        data=request.content if request.body_exists else None,
        allow_redirects=False,
        auto_decompress=False,
    ) as upstream:
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        response.headers.update(
            {k: v for k, v in upstream.headers.items() if k.lower() not in DROPPED}
        )
        if upstream.content_length is not None:
            response.content_length = upstream.content_length
        await response.prepare(request)
        async for chunk in upstream.content.iter_any():
            await response.write(chunk)
        await response.write_eof()
        return response


async def _session(app: web.Application) -> AsyncIterator[None]:
    app[SESSION] = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
    yield
    await app[SESSION].close()


async def serve(upstream: str) -> None:
    app = web.Application()
    app[UPSTREAM] = upstream.rstrip("/")
    app.cleanup_ctx.append(_session)
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    sockets = getattr(site._server, "sockets", None) or []
    print(f"ready {sockets[0].getsockname()[1]}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1]))
