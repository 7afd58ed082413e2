"""Forwarding a WebSocket: the handshake to the tool (never following a redirect), then
messages both ways until either side closes."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp import web

from machete_web.keys import WS_CLIENT
from machete_web.problems import problem
from machete_web.proxy.forward import (
    ROUTED_TOOL,
    forwarded_headers,
    upstream_error,
    upstream_url,
)
from machete_web.proxy.routing import Target, route


async def proxy_websocket(request: web.Request, target: Target) -> web.StreamResponse:
    found = await route(request, target.tool)
    request[ROUTED_TOOL] = target.tool
    url = upstream_url(request, target, found).with_scheme("ws")
    headers = {
        k: v
        for k, v in forwarded_headers(request, target).items()
        if not k.lower().startswith("sec-websocket")
    }
    protocols = [
        p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()
    ]
    try:
        upstream = await request.app[WS_CLIENT].ws_connect(
            url, headers=headers, protocols=protocols
        )
    except (aiohttp.ClientError, aiohttp.WSServerHandshakeError, TimeoutError, ValueError):
        # Never the tool's status, URL or address: those may name internal places.
        upstream_error(request, target.tool, "unreachable")
        return problem(502, "tool_refused_websocket", f"{target.tool} refused the WebSocket")
    downstream = web.WebSocketResponse(protocols=protocols)
    await downstream.prepare(request)

    async def pump(source: Any, sink: Any) -> None:
        async for msg in source:
            if msg.type == aiohttp.WSMsgType.TEXT:
                await sink.send_str(msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                await sink.send_bytes(msg.data)
            else:
                break

    tasks = [
        asyncio.create_task(pump(downstream, upstream)),
        asyncio.create_task(pump(upstream, downstream)),
    ]

    async def close_both() -> None:
        # Closing both sides wakes the reader still waiting, so its pump ends by itself
        # (cancelling a pending receive() would leave aiohttp's close() waiting for it).
        await upstream.close()
        await downstream.close()
        await asyncio.gather(*tasks, return_exceptions=True)

    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        # aiohttp cancels this handler when the client goes away: the upstream side must
        # still be closed, so the cleanup is shielded from that cancellation.
        await asyncio.shield(close_both())
    return downstream
