"""The /tools/<name>/ proxy against a real upstream on loopback (HTTP and WebSocket).

The upstream stands in for a tool's container; a small runtime plugin points the route at it.
Real containers behind the proxy are tested in tests/integration/test_routing.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from machete_core.machete import Machete
from tests.support.pointing import UPSTREAM, UPSTREAM_OPEN, deployed
from tests.support.webapps import api_and_tools

#: Set by a test to let the upstream's slow answer go on to its body.
GO_ON: dict[str, asyncio.Event] = {}


async def slow_stream(request: web.Request) -> web.StreamResponse:
    """Headers now, the body when the test says (an event stream, a long download)."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await GO_ON["stream"].wait()
    await response.write(b"data: at last\n\n")
    await response.write_eof()
    return response


async def echo(request: web.Request) -> web.StreamResponse:
    if request.path == "/stream":
        return await slow_stream(request)
    if request.path == "/ws":
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        UPSTREAM_OPEN.add(id(ws))
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    await ws.send_str("echo:" + msg.data)
                elif msg.type == aiohttp.WSMsgType.BINARY:
                    await ws.send_bytes(msg.data[::-1])
        finally:
            UPSTREAM_OPEN.discard(id(ws))
        return ws
    if request.path == "/fixed":
        return web.Response(text="the same for every method\n")
    if request.path == "/empty":
        return web.Response(status=204)
    if request.path == "/missing":
        return web.Response(status=404, text="nope")
    if request.path.startswith("/redirect/"):
        # A tool that knows nothing of its prefix redirects to its own root.
        where = {
            "root": "/?x=1",
            "absolute": f"http://{request.host}/login?next=%2F",
            "relative": "next/page",
            "elsewhere": "https://sso.example.com/login",
            "prefixed": "/tools/app/done",
        }[request.path.rsplit("/", 1)[1]]
        return web.Response(status=302, headers={"Location": where, "Content-Location": where})
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
    headers = {k: v for k, v in request.headers.items() if k.lower().startswith("x-forwarded")}
    return web.json_response(
        {"path": request.path_qs, "method": request.method, "size": size, "headers": headers}
    )


@pytest.fixture
def machete(pointing_machete: Machete) -> Machete:
    return pointing_machete


@pytest.fixture
async def upstream() -> AsyncIterator[TestServer]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    UPSTREAM["port"] = server.port  # type: ignore[assignment]
    yield server
    await server.close()


@pytest.fixture
async def client(aiohttp_client: Any, machete: Machete, upstream: TestServer) -> TestClient:
    return (await api_and_tools(aiohttp_client, machete))[1]


async def test_paths_prefix_and_headers(client: TestClient, machete: Machete) -> None:
    deployed(machete, "app")
    for path, expected in [
        ("/tools/app/", "/"),
        ("/tools/app", "/"),
        ("/tools/app/a/b?x=1&y=2", "/a/b?x=1&y=2"),
    ]:
        data = await (await client.get(path)).json()
        assert data["path"] == expected
    headers = (await (await client.get("/tools/app/")).json())["headers"]
    assert headers["X-Forwarded-Prefix"] == "/tools/app"
    assert headers["X-Forwarded-Proto"] == "http" and headers["X-Forwarded-For"]
    resp = await client.get("/tools/app/missing")
    assert resp.status == 404 and await resp.text() == "nope"  # the tool's own answer, as is


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("root", "/tools/app/?x=1"),
        ("absolute", "/tools/app/login?next=%2F"),
        ("relative", "next/page"),
        ("elsewhere", "https://sso.example.com/login"),
        ("prefixed", "/tools/app/done"),
    ],
)
async def test_redirects_to_the_tool_s_root_stay_under_its_prefix(
    client: TestClient, machete: Machete, kind: str, expected: str
) -> None:
    deployed(machete, "app")
    resp = await client.get(f"/tools/app/redirect/{kind}", allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["Location"] == expected == resp.headers["Content-Location"]


async def test_full_path_when_the_tool_asks(client: TestClient, machete: Machete) -> None:
    deployed(machete, "full", strip=False)
    assert (await (await client.get("/tools/full/x")).json())["path"] == "/tools/full/x"


async def test_request_bodies_stream_through(client: TestClient, machete: Machete) -> None:
    deployed(machete, "app")

    async def body() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b"x" * 256 * 1024

    resp = await client.post("/tools/app/upload", data=body())
    data = await resp.json()
    assert (
        data["method"] == "POST" and data["size"] == 40 * 256 * 1024
    )  # 10 MiB, past client_max_size


async def test_an_answer_still_coming_streams_its_headers_at_once(
    client: TestClient, machete: Machete
) -> None:
    deployed(machete, "app")
    GO_ON["stream"] = asyncio.Event()
    try:
        # The status and headers arrive while the tool has not sent its body yet.
        resp = await asyncio.wait_for(client.get("/tools/app/stream"), 5)
        assert resp.status == 200 and resp.content_type == "text/event-stream"
        GO_ON["stream"].set()
        assert await resp.text() == "data: at last\n\n"
    finally:
        GO_ON["stream"].set()


async def test_a_whole_small_answer_leaves_in_one_write(
    client: TestClient, machete: Machete, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Headers and body of an answer that came whole are one write to the client, not two
    (a segment and a wake-up fewer per request)."""
    deployed(machete, "app")
    writes: list[int] = []
    prepare = web.StreamResponse.prepare

    async def counting(response: web.StreamResponse, request: web.BaseRequest) -> Any:
        transport = request.transport
        if request.path.startswith("/tools/") and transport is not None:
            real = type(transport).write

            def write(data: Any) -> None:
                writes.append(len(data))
                real(transport, data)

            transport.write = write  # type: ignore[method-assign]
        return await prepare(response, request)

    monkeypatch.setattr(web.StreamResponse, "prepare", counting)
    resp = await client.get("/tools/app/page")
    assert resp.status == 200 and (await resp.json())["path"] == "/page"
    assert len(writes) == 1, writes


async def test_head_and_bodiless_answers_keep_their_headers(
    client: TestClient, machete: Machete
) -> None:
    deployed(machete, "app")
    length = str(len(await (await client.get("/tools/app/fixed")).read()))
    head = await client.head("/tools/app/fixed")
    assert head.status == 200 and head.headers["Content-Length"] == length != "0"
    assert await head.read() == b""
    empty = await client.get("/tools/app/empty")
    assert empty.status == 204 and await empty.read() == b""
    # The connection is still good for the next request.
    assert (await client.get("/tools/app/again")).status == 200


async def test_websocket(client: TestClient, machete: Machete) -> None:
    deployed(machete, "app")
    async with client.ws_connect("/tools/app/ws") as ws:
        await ws.send_str("hello")
        assert (await ws.receive()).data == "echo:hello"
        await ws.send_bytes(b"\x01\x02\x03")
        assert (await ws.receive()).data == b"\x03\x02\x01"
    # The proxy closes its upstream side right after ours; let it, before the servers stop.
    for _ in range(50):
        if not UPSTREAM_OPEN:
            break
        await asyncio.sleep(0.05)
    assert not UPSTREAM_OPEN


async def test_unknown_and_stopped_tools(client: TestClient, machete: Machete) -> None:
    assert (await client.get("/tools/nothing/")).status == 404
    deployed(machete, "sleepy", status="stopped")
    resp = await client.get("/tools/sleepy/")
    assert resp.status == 503 and (await resp.json())["error"]["code"] == "tool_unavailable"


async def moved(request: web.Request) -> web.Response:
    return web.Response(text="moved")


async def test_an_aged_route_serves_while_a_fresh_one_is_looked_up(
    client: TestClient, machete: Machete, upstream: TestServer
) -> None:
    from machete_web.app import ROUTER
    from machete_web.proxy.routing import PLATFORM

    deployed(machete, "app")
    router = client.server.app[PLATFORM][ROUTER]
    router.ttl = 0.0  # every route is aged at once
    assert (await client.get("/tools/app/")).status == 200
    other_app = web.Application()
    other_app.router.add_route("*", "/{tail:.*}", moved)
    other = TestServer(other_app, host="127.0.0.1")
    await other.start_server()
    try:
        UPSTREAM["port"] = other.port  # type: ignore[assignment]  # the instance "moved"
        # The aged route answers at once (no lookup on the request path) ...
        assert (await client.get("/tools/app/")).content_type == "application/json"
        # ... and the lookup made beside it takes over shortly after.
        for _ in range(100):
            if await (await client.get("/tools/app/")).text() == "moved":
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the fresh route never took over")
    finally:
        UPSTREAM["port"] = upstream.port  # type: ignore[assignment]
        await other.close()


async def test_an_instance_whose_address_never_answers_is_looked_up_again(
    client: TestClient, machete: Machete, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A removed container's address refuses nothing: connecting times out. Nothing was
    sent, so the proxy asks where the tool runs now and tries once more, as for a refusal."""
    from machete_web.keys import HTTP_CLIENT, PLATFORM, ROUTER

    deployed(machete, "app")
    assert (await client.get("/tools/app/")).status == 200
    platform = client.server.app[PLATFORM]
    session = platform[HTTP_CLIENT]
    real = session.request
    tried: list[str] = []

    async def first_times_out(method: str, url: str, **kwargs: Any) -> Any:
        tried.append(url)
        if len(tried) == 1:
            raise aiohttp.ConnectionTimeoutError("connection timeout to host")
        return await real(method, url, **kwargs)

    monkeypatch.setattr(session, "request", first_times_out)
    assert platform[ROUTER].cached("app") is not None  # the route the first try follows
    resp = await client.get("/tools/app/")
    assert resp.status == 200, await resp.text()
    assert len(tried) == 2
