"""``/tools/<name>/...``: the reverse proxy to each tool's live instance (HTTP and WebSocket).

Bodies stream both ways (never buffered whole), hop-by-hop headers are dropped, and
``X-Forwarded-*`` headers tell the tool where it is published. A connection refused by an
instance that was just retired is retried once against a fresh route, which is what makes a
release switch invisible to clients.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from machete_core.errors import MacheteError
from machete_core.views import Route
from machete_web.app import BACKGROUND_TASKS, EXECUTOR, HTTP_CLIENT, MACHETE, ROUTER, core

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}


def setup(app: web.Application) -> None:
    app.router.add_route("*", "/tools/{tool}", proxy)
    app.router.add_route("*", "/tools/{tool}/{tail:.*}", proxy)


async def _route(request: web.Request, tool: str, fresh: bool = False) -> Route:
    """Where ``tool`` runs. A route older than the cache time is still used while a fresh one
    is looked up in the background, so requests never wait on the engine; a switch of
    release invalidates the entry at once (events), and a refused connection asks afresh."""
    router = request.app[ROUTER]
    if fresh:
        router.forget(tool)
    route = router.cached(tool)
    if route is not None:
        return route
    stale = router.stale(tool)
    if stale is None:
        route = await core(request, request.app[MACHETE].route, tool)
        router.remember(route)
        return route
    if not router.refreshing(tool):
        task = asyncio.create_task(_refresh(request.app, tool))
        request.app[BACKGROUND_TASKS].add(task)
        task.add_done_callback(request.app[BACKGROUND_TASKS].discard)
    return stale


async def _refresh(app: web.Application, tool: str) -> None:
    router = app[ROUTER]
    try:
        loop = asyncio.get_running_loop()
        route = await loop.run_in_executor(app[EXECUTOR], app[MACHETE].route, tool)
        router.remember(route)
    except MacheteError:
        router.forget(tool)  # gone or stopped: the next request finds out and says so
    finally:
        router.refreshed(tool)


def _upstream_path(request: web.Request, route: Route) -> str:
    tail = request.match_info.get("tail", "")
    path = "/" + tail if route.strip_prefix else request.path
    return path + (f"?{request.query_string}" if request.query_string else "")


def _forward_headers(request: web.Request, route: Route) -> CIMultiDict[str]:
    headers: CIMultiDict[str] = CIMultiDict(
        (k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP
    )
    peer = request.remote or ""
    prior = request.headers.get("X-Forwarded-For")
    headers["X-Forwarded-For"] = f"{prior}, {peer}" if prior else peer
    headers["X-Forwarded-Host"] = request.host
    headers["X-Forwarded-Proto"] = request.scheme
    headers["X-Forwarded-Prefix"] = f"/tools/{route.tool}"
    return headers


async def proxy(request: web.Request) -> web.StreamResponse:
    tool = request.match_info["tool"]
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return await _proxy_websocket(request, tool)
    session = request.app[HTTP_CLIENT]
    route = await _route(request, tool)
    for attempt in (1, 2):
        url = route.endpoint.base_url + _upstream_path(request, route)
        try:
            upstream = await session.request(
                request.method,
                url,
                headers=_forward_headers(request, route),
                data=request.content if request.body_exists else None,
                allow_redirects=False,
                auto_decompress=False,
            )
        except aiohttp.ClientConnectorError:
            # Nothing was sent: the instance is gone (retired, restarted). Ask again, once.
            if attempt == 2:
                raise web.HTTPBadGateway(reason=f"{tool} does not answer") from None
            route = await _route(request, tool, fresh=True)
            continue
        break
    try:
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        for key, value in upstream.headers.items():
            if key.lower() not in HOP_BY_HOP:
                response.headers.add(key, value)
        if upstream.headers.get("Content-Length") and "Content-Encoding" not in upstream.headers:
            response.content_length = int(upstream.headers["Content-Length"])
        await response.prepare(request)
        async for chunk in upstream.content.iter_any():
            await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        upstream.release()


async def _proxy_websocket(request: web.Request, tool: str) -> web.StreamResponse:
    route = await _route(request, tool)
    url = route.endpoint.base_url.replace("http://", "ws://", 1) + _upstream_path(request, route)
    headers = {
        k: v
        for k, v in _forward_headers(request, route).items()
        if not k.lower().startswith("sec-websocket")
    }
    protocols = [
        p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()
    ]
    session = request.app[HTTP_CLIENT]
    try:
        upstream = await session.ws_connect(url, headers=headers, protocols=protocols)
    except (aiohttp.ClientError, aiohttp.WSServerHandshakeError) as exc:
        raise web.HTTPBadGateway(reason=f"{tool} refused the WebSocket: {exc}") from None
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
