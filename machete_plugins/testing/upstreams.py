"""Small HTTP upstreams for the ingress contract: each answers with its own name, the path
and the headers it got (JSON, header names in lower case), and serves ``/slow`` (a second),
``/stream`` (three chunks a quarter second apart), ``/cookie`` (tries to set MACHETE's cookie
and one of its own) and ``/ws`` (a WebSocket echo). Each runs in a thread of its own."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from aiohttp import WSMsgType, web

from machete_core.domain.records import Endpoint


class Upstream:
    def __init__(self, name: str) -> None:
        self.name = name
        self.requests = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"upstream-{name}", daemon=True)

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(host="127.0.0.1", port=self.port)

    def start(self) -> Upstream:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the upstream did not start")
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_get("/slow", self._slow)
        app.router.add_get("/stream", self._stream)
        app.router.add_get("/cookie", self._cookie)
        app.router.add_get("/ws", self._ws)
        app.router.add_route("*", "/{tail:.*}", self._echo)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def _answer(self, request: web.Request, **extra: Any) -> dict[str, Any]:
        self.requests += 1
        return {
            "upstream": self.name,
            "method": request.method,
            "path": request.raw_path,
            # Lower-case names: what reaches a tool is the same header however it is spelled.
            "headers": {k.lower(): v for k, v in request.headers.items()},
            **extra,
        }

    async def _echo(self, request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response(self._answer(request, body=body.decode("utf-8", "replace")))

    async def _slow(self, request: web.Request) -> web.Response:
        await asyncio.sleep(1.0)
        return web.json_response(self._answer(request))

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for i in range(3):
            await response.write(f"data: {i}\n\n".encode())
            await asyncio.sleep(0.25)
        await response.write_eof()
        return response

    async def _cookie(self, request: web.Request) -> web.Response:
        response = web.json_response(self._answer(request))
        response.set_cookie("machete_session", "from-the-tool")
        response.set_cookie("tool_own", "kept")
        return response

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        self.requests += 1
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await ws.send_str(f"{self.name}:{message.data}")
        return ws

    def stop(self) -> None:
        async def _cleanup() -> None:
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(_cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
