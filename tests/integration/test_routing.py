"""Routing through `machete serve` to real containers, and zero downtime across redeploys,
through each bundled ingress: the server's own proxy and a Caddy the server runs."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import aiohttp
import pytest

from tests.support.caddy import caddy_env
from tests.support.git_server import GitHTTPServer, commit_and_push, make_repo
from tests.support.http import auth_headers, request
from tests.support.images import http_tool_files, websocket_tool_files
from tests.support.load import hammering
from tests.support.server import call, running_server, tools_base, wait_op


@pytest.fixture(params=["builtin", "caddy"])
def server(
    request: pytest.FixtureRequest, env: dict[str, str], busybox_image: str
) -> Iterator[str]:
    extra = {"MACHETE_DRAIN_SECONDS": "1"}
    if request.param == "caddy":
        extra.update(caddy_env())
    with running_server({**env, **extra}) as (base, _proc):
        yield base


def test_proxy_serves_the_tool(server: str, git_server: GitHTTPServer) -> None:
    repo = f"route{uuid.uuid4().hex[:6]}"
    make_repo(git_server.root, repo, http_tool_files("routed page"))
    _status, body = call(
        "POST", f"{server}/api/tools", {"url": git_server.url(f"{repo}.git"), "name": "routed"}
    )
    assert wait_op(server, body["operation_id"])["status"] == "succeeded"
    assert request(f"{server}/tools/routed/")[1] == b"routed page\n"
    assert request(f"{server}/tools/routed")[1] == b"routed page\n"
    assert request(f"{server}/tools/routed/health")[1] == b"ok\n"
    assert request(f"{server}/tools/routed/nothing-here")[0] == 404
    call("POST", f"{server}/api/tools/routed/stop")
    time.sleep(1.5)
    assert request(f"{server}/tools/routed/")[0] == 503


def test_proxy_carries_websockets_to_a_container_tool(
    server: str, git_server: GitHTTPServer
) -> None:
    """A real tool in a container that speaks WebSocket, reached only through the proxy."""
    repo = f"ws{uuid.uuid4().hex[:6]}"
    make_repo(git_server.root, repo, websocket_tool_files())
    _status, body = call(
        "POST", f"{server}/api/tools", {"url": git_server.url(f"{repo}.git"), "name": "sockets"}
    )
    assert wait_op(server, body["operation_id"])["status"] == "succeeded"

    async def talk() -> list[str]:
        heard = []
        async with aiohttp.ClientSession() as session:
            # Straight to the tools' listener (a redirect would drop the token: another origin).
            url = tools_base(server).replace("http://", "ws://") + "/tools/sockets/chat"
            async with session.ws_connect(url, headers=auth_headers(server)) as ws:
                heard.append(await ws.receive_str(timeout=10))
                for text in ("ping", "über alles"):
                    await ws.send_str(text)
                    heard.append(await ws.receive_str(timeout=10))
        return heard

    assert asyncio.run(talk()) == ["hello from the container", "echo: ping", "echo: über alles"]


def test_zero_downtime_across_ten_redeploys(server: str, git_server: GitHTTPServer) -> None:
    repo = f"zdt{uuid.uuid4().hex[:6]}"
    work = make_repo(git_server.root, repo, http_tool_files("version 0"))
    _status, body = call(
        "POST", f"{server}/api/tools", {"url": git_server.url(f"{repo}.git"), "name": "zdt"}
    )
    assert wait_op(server, body["operation_id"])["status"] == "succeeded"

    outcomes = []
    with hammering(f"{server}/tools/zdt/") as results:
        for i in range(1, 11):
            if i % 3 == 0:
                # This release never becomes healthy: its gate fails, the old one keeps serving.
                manifest = http_tool_files(health="/never").get("machete.yml", "")
                manifest = manifest.replace(
                    "health_check: /never", "health_check: /never\n  health_timeout: 2"
                )
                commit_and_push(work, {"machete.yml": manifest, "www/index.html": f"broken {i}\n"})
            else:
                commit_and_push(
                    work,
                    {
                        "machete.yml": http_tool_files()["machete.yml"],
                        "www/index.html": f"version {i}\n",
                    },
                )
            _s, body = call("POST", f"{server}/api/tools/zdt/deploy")
            outcomes.append(wait_op(server, body["operation_id"])["status"])
    failures = [r for r in results if r[0] != 200]
    bodies = {r[1] for r in results if r[0] == 200}
    assert outcomes.count("failed") == 3 and outcomes.count("succeeded") == 7
    assert len(results) > 100
    assert failures == []
    assert b"version 10\n" in bodies and b"version 1\n" in bodies
    assert not any(b.startswith(b"broken") for b in bodies)
