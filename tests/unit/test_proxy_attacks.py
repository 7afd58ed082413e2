"""Attacks on the tool proxy (issue 10): a hanging tool, hostile upstream answers, path and
header tricks, redirects to internal addresses, MACHETE's credentials and rebinding hosts.

Upstreams are real sockets on loopback; some speak raw bytes to send what no HTTP library
would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from machete_core.machete import Machete, create_machete
from machete_core.settings import Settings
from machete_plugins import BUILTIN_PLUGINS
from tests.support.people import token_for
from tests.support.pointing import UPSTREAM, PointingPlugin, deployed
from tests.support.webapps import api_and_tools


@pytest.fixture
def machete(settings: Settings) -> Iterator[Machete]:
    tuned = attrs.evolve(
        settings, proxy_tool_connections=4, proxy_queue_timeout=0.5, proxy_read_timeout=1.0
    )
    m = create_machete(tuned, builtins=BUILTIN_PLUGINS)
    m.plugins.register(PointingPlugin(), "pointing")
    yield m
    m.close()


@pytest.fixture
async def clients(aiohttp_client: Any, machete: Machete) -> tuple[TestClient, TestClient]:
    return await api_and_tools(aiohttp_client, machete)


@pytest.fixture
def tools(clients: tuple[TestClient, TestClient]) -> TestClient:
    return clients[1]


RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def raw_upstream() -> AsyncIterator[Callable[[RawHandler], Awaitable[None]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: RawHandler) -> None:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        UPSTREAM["port"] = server.sockets[0].getsockname()[1]

    yield start
    for server in servers:
        server.close()


def answering(raw: bytes, *, then_close: bool = True) -> RawHandler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(raw)
            await writer.drain()
            if then_close:
                writer.close()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass

    return handler


@pytest.fixture
async def echo_upstream() -> AsyncIterator[list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []

    async def echo(request: web.Request) -> web.StreamResponse:
        seen.append({"raw_path": request.raw_path, "headers": dict(request.headers)})
        if request.path == "/redirect-ws":
            raise web.HTTPFound("http://127.0.0.1:1/internal-admin")
        resp = web.Response(text="ok")
        resp.headers.add("Set-Cookie", "machete_session=forged; Path=/; HttpOnly")
        resp.headers.add("Set-Cookie", "tool_pref=dark; Path=/")
        resp.headers["Connection"] = "X-Secret-Hop"
        resp.headers["X-Secret-Hop"] = "upstream-only"
        return resp

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    UPSTREAM["port"] = server.port  # type: ignore[assignment]
    yield seen
    await server.close()


async def test_machete_credentials_never_reach_a_tool_and_it_cannot_set_our_cookies(
    tools: TestClient, machete: Machete, echo_upstream: list[dict[str, Any]]
) -> None:
    deployed(machete, "app")
    resp = await tools.get(
        "/tools/app/",
        headers={
            "Cookie": "machete_session=abc; theirs=1; __Host-machete_csrf=x",
            # A real token: it lets the request open the (members-only) tool, then is dropped.
            "Authorization": f"Bearer {token_for(machete)}",
            "Proxy-Authorization": "Basic Zm9vOmJhcg==",
        },
    )
    assert resp.status == 200
    sent = echo_upstream[-1]["headers"]
    assert sent.get("Cookie") == "theirs=1"
    assert "Authorization" not in sent and "Proxy-Authorization" not in sent
    cookies = resp.headers.getall("Set-Cookie")
    assert cookies == ["tool_pref=dark; Path=/"]
    # The hop-by-hop header the tool named in Connection stays between it and us.
    assert "X-Secret-Hop" not in resp.headers
    # A tool's own Basic auth passes (to a tool open to anyone: Basic is not a MACHETE sign-in).
    machete.set_access("app", "public")
    await tools.get("/tools/app/", headers={"Authorization": "Basic dTpw"})
    assert echo_upstream[-1]["headers"]["Authorization"] == "Basic dTpw"


async def test_paths_are_forwarded_raw_and_headers_are_not_invented(
    tools: TestClient, machete: Machete, echo_upstream: list[dict[str, Any]]
) -> None:
    deployed(machete, "app")
    await tools.get(
        URL("/tools/app/%2561dmin/a%252Fb?q=%2F", encoded=True),
        skip_auto_headers={"Accept-Encoding", "User-Agent"},
        headers={
            "X-Forwarded-For": "6.6.6.6",
            "Connection": "keep-alive, X-Drop-Me",
            "X-Drop-Me": "1",
        },
    )
    seen = echo_upstream[-1]
    assert seen["raw_path"] == "/%2561dmin/a%252Fb?q=%2F"  # never decoded to /admin
    headers = seen["headers"]
    assert headers["X-Forwarded-For"] == "127.0.0.1"  # the client's own claim is replaced
    assert "X-Drop-Me" not in headers
    assert "Accept-Encoding" not in headers and "User-Agent" not in headers


async def test_trusted_proxies_keep_their_hops(
    aiohttp_client: Any, settings: Settings, echo_upstream: list[dict[str, Any]]
) -> None:
    m = create_machete(attrs.evolve(settings, trusted_proxies=1), builtins=BUILTIN_PLUGINS)
    m.plugins.register(PointingPlugin(), "pointing")
    try:
        _api, tools = await api_and_tools(aiohttp_client, m)
        deployed(m, "app")
        await tools.get("/tools/app/", headers={"X-Forwarded-For": "6.6.6.6, 10.0.0.7"})
        assert echo_upstream[-1]["headers"]["X-Forwarded-For"] == "10.0.0.7, 127.0.0.1"
    finally:
        m.close()


async def test_a_websocket_redirect_is_never_followed_or_quoted(
    tools: TestClient, machete: Machete, echo_upstream: list[dict[str, Any]]
) -> None:
    deployed(machete, "app")
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await tools.ws_connect("/tools/app/redirect-ws")
    assert info.value.status == 502
    assert len(echo_upstream) == 1  # the redirect's target was never asked
    resp = await tools.get(
        "/tools/app/redirect-ws",
        headers={
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": "x" * 22 + "==",
            "Sec-WebSocket-Version": "13",
        },
    )
    body = await resp.text()
    assert resp.status == 502 and "127.0.0.1:1" not in body and "internal-admin" not in body


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\nhello",
        b"HTTP/9 banana\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70_000 + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(200)) + b"\r\n",
        b"HTTP/1.1 200 OK\rX-Bare: cr\r\nContent-Length: 0\r\n\r\n",
    ],
    ids=[
        "duplicate-length",
        "invalid-length",
        "bad-status",
        "huge-header",
        "many-headers",
        "bare-cr",
    ],
)
async def test_hostile_upstream_answers_are_502(
    tools: TestClient, machete: Machete, raw_upstream: Any, raw: bytes
) -> None:
    await raw_upstream(answering(raw))
    deployed(machete, "app")
    resp = await tools.get("/tools/app/")
    assert resp.status == 502, await resp.text()
    assert (await resp.json())["error"]["code"] == "bad_upstream_response"


async def test_a_body_cut_short_aborts_the_connection_instead_of_a_second_response(
    tools: TestClient, machete: Machete, raw_upstream: Any
) -> None:
    await raw_upstream(answering(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-this"))
    deployed(machete, "app")
    resp = await tools.get("/tools/app/")
    assert resp.status == 200
    with pytest.raises(aiohttp.ClientPayloadError):
        await resp.read()


async def _until(condition: Callable[[], bool], limit: float = 10.0) -> None:
    """Wait (bounded) for what the test needs in place, rather than a fixed sleep that a busy
    machine can outrun."""
    deadline = asyncio.get_running_loop().time() + limit
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "never happened"
        await asyncio.sleep(0.02)


async def test_one_hanging_tool_does_not_take_the_others_and_leaves_no_replay(
    tools: TestClient, machete: Machete, raw_upstream: Any
) -> None:
    arrived: list[bytes] = []

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readuntil(b"\r\n\r\n")
            arrived.append(line.split(b" ")[1])
            if b"/fast" in line:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfast")
                await writer.drain()
            else:
                await asyncio.sleep(30)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    await raw_upstream(hang)
    deployed(machete, "slow")
    deployed(machete, "other")
    loop = asyncio.get_running_loop()
    started = loop.time()
    # Four slots for "slow" (the fixture's limit): the fifth waits 0.5 s, then gets 503.
    hanging = [asyncio.create_task(tools.get(f"/tools/slow/hang{i}")) for i in range(4)]
    await _until(lambda: len(arrived) == 4)  # all four hold their slots at the tool
    queued = await tools.get("/tools/slow/queued")
    assert queued.status == 503 and (await queued.json())["error"]["code"] == "tool_busy"
    # Another tool is served meanwhile.
    fast = await tools.get("/tools/other/fast")
    assert fast.status == 200 and await fast.text() == "fast"
    # The hanging ones end with 504 at the read timeout, not never.
    answers = await asyncio.gather(*hanging)
    assert {r.status for r in answers} == {504}
    assert loop.time() - started < 10
    # A client that leaves while queued is never replayed at the tool.
    blockers = [asyncio.create_task(tools.get(f"/tools/slow/block{i}")) for i in range(4)]
    await _until(lambda: sum(b"/block" in a for a in arrived) == 4)
    leaver = asyncio.create_task(tools.get("/tools/slow/left"))
    await asyncio.sleep(0.1)
    leaver.cancel()
    await asyncio.gather(*blockers, return_exceptions=True)
    await asyncio.sleep(0.3)
    assert b"/left" not in arrived


async def test_api_origin_never_serves_tools_it_redirects(
    clients: tuple[TestClient, TestClient], machete: Machete, echo_upstream: list[dict[str, Any]]
) -> None:
    api, tools = clients
    deployed(machete, "app")
    resp = await api.get("/tools/app/x?y=1", allow_redirects=False)
    assert resp.status == 307
    assert resp.headers["Location"] == f"http://127.0.0.1:{tools.port}/tools/app/x?y=1"
    assert echo_upstream == []
    # ...and the tools origin never serves the API.
    assert (await tools.get("/api/tools")).status == 404
    assert (await tools.delete("/api/tools/app")).status == 404


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8080", "127.0.0.1.evil.example"])
async def test_rebinding_hosts_are_refused_on_both_listeners(
    clients: tuple[TestClient, TestClient], machete: Machete, host: str
) -> None:
    api, tools = clients
    deployed(machete, "app")
    headers = {"Host": host, "Origin": f"http://{host}", "Content-Type": "application/json"}
    resp = await api.post("/api/tools", data='{"url": "https://x/y.git"}', headers=headers)
    assert resp.status == 421 and (await resp.json())["error"]["code"] == "host_not_allowed"
    assert machete.list_tools()[0].name == "app" and len(machete.list_tools()) == 1
    assert (await api.get("/api/events", headers={"Host": host})).status == 421
    assert (await tools.get("/tools/app/", headers={"Host": host})).status == 421
