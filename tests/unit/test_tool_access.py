"""Who may open a tool (public, members, granted) on the tools' own origin: its sessions come
from a one-time ticket the API origin hands a signed-in browser, never a shared cookie, and
neither those sessions nor API tokens ever reach the tool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from machete_core.machete import Machete
from machete_core.manifest.loader import load_manifest_text
from machete_web import create_app
from machete_web.app import TOOLS_LISTENER
from machete_web.proxy.app import create_tools_app
from tests.support.people import PASSWORD, ensure_user, token_for
from tests.support.pointing import UPSTREAM, deployed

NAVIGATE = {"Sec-Fetch-Mode": "navigate"}


@pytest.fixture
def machete(pointing_machete: Machete) -> Machete:
    return pointing_machete


@pytest.fixture
async def heard() -> AsyncIterator[list[dict[str, str]]]:
    seen: list[dict[str, str]] = []

    async def echo(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response({"path": request.path})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    UPSTREAM["port"] = server.port  # type: ignore[assignment]
    yield seen
    await server.close()


@pytest.fixture
async def clients(
    aiohttp_client: Any, machete: Machete, heard: list[dict[str, str]]
) -> tuple[TestClient, TestClient]:
    api = await aiohttp_client(create_app(machete=machete))
    tools = await aiohttp_client(create_tools_app(api.app))
    api.app[TOOLS_LISTENER].port = tools.port
    return api, tools


async def sign_in(api: TestClient, name: str) -> None:
    origin = {"Origin": f"http://{api.server.host}:{api.server.port}"}
    resp = await api.post(
        "/api/auth/login", json={"username": name, "password": PASSWORD}, headers=origin
    )
    assert resp.status == 200


async def open_through_ticket(
    api: TestClient, tools: TestClient, tool: str, path: str = "/page"
) -> tuple[int, str | None]:
    """What a browser does: the API origin's /tools/<tool>/..., then the ticket link."""
    resp = await api.get(f"/tools/{tool}{path}", headers=NAVIGATE, allow_redirects=False)
    assert resp.status == 302, await resp.text()
    link = urlsplit(resp.headers["Location"])
    assert link.port == tools.port and link.path == f"/tools/{tool}/_machete/session"
    resp = await tools.get(f"{link.path}?{link.query}", allow_redirects=False)
    if resp.status != 302:
        return resp.status, None
    assert resp.headers["Location"] == f"/tools/{tool}{path}"
    cookie = resp.cookies["machete_tool_session"]
    assert cookie["httponly"] and cookie["path"] == f"/tools/{tool}/"
    return 302, link.query


async def test_members_only_by_default(
    clients: tuple[TestClient, TestClient], machete: Machete, heard: list[dict[str, str]]
) -> None:
    api, tools = clients
    deployed(machete, "app")
    assert machete.store.get_tool("app").access == "members"
    resp = await tools.get("/tools/app/page")
    assert resp.status == 401
    resp = await tools.get("/tools/app/page", headers=NAVIGATE, allow_redirects=False)
    assert resp.status == 302
    # Back to the API origin (MACHETE_PORT, or MACHETE_PUBLIC_URL) for a ticket.
    assert resp.headers["Location"].endswith(f":{machete.settings.port}/tools/app/page")
    # Not signed in on the API origin either: the dashboard signs in, then comes back.
    resp = await api.get("/tools/app/page", headers=NAVIGATE, allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"].startswith("/sign-in?next=")
    # A program with a token opens it; the token never reaches the tool.
    token = token_for(machete, "ann", "viewer")
    resp = await tools.get("/tools/app/page", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200
    assert "Authorization" not in heard[-1]


async def test_a_signed_in_browser_gets_a_one_time_ticket_and_its_own_session(
    clients: tuple[TestClient, TestClient], machete: Machete, heard: list[dict[str, str]]
) -> None:
    api, tools = clients
    for name in ("app", "other"):
        deployed(machete, name)
    ensure_user(machete, "ann", "viewer")
    await sign_in(api, "ann")
    status, query = await open_through_ticket(api, tools, "app")
    assert status == 302 and query is not None
    resp = await tools.get("/tools/app/page")
    assert resp.status == 200 and (await resp.json()) == {"path": "/page"}
    assert "machete" not in heard[-1].get("Cookie", "")  # neither session reaches the tool
    # The ticket was used once.
    resp = await tools.get(f"/tools/app/_machete/session?{query}", allow_redirects=False)
    assert resp.status == 401
    # The tool's session does not open another tool.
    resp = await tools.get(
        "/tools/other/page",
        cookies={
            "machete_tool_session": tools.session.cookie_jar.filter_cookies(
                tools.make_url("/tools/app/")
            )["machete_tool_session"].value
        },
    )
    assert resp.status == 401
    # A ticket for one tool does not sign in on another.
    resp = await api.get("/tools/app/x", headers=NAVIGATE, allow_redirects=False)
    ticket = parse_qs(urlsplit(resp.headers["Location"]).query)["ticket"][0]
    resp = await tools.get(f"/tools/other/_machete/session?ticket={ticket}", allow_redirects=False)
    assert resp.status == 401
    # The API's own cookie is never valid on the tools' origin.
    api_cookie = api.session.cookie_jar.filter_cookies(api.make_url("/"))["machete_session"]
    resp = await tools.get("/tools/other/page", cookies={"machete_session": api_cookie.value})
    assert resp.status == 401


async def test_next_never_leaves_the_tool(
    clients: tuple[TestClient, TestClient], machete: Machete
) -> None:
    api, tools = clients
    deployed(machete, "app")
    ensure_user(machete, "ann", "viewer")
    await sign_in(api, "ann")
    resp = await api.get("/tools/app/x", headers=NAVIGATE, allow_redirects=False)
    link = urlsplit(resp.headers["Location"])
    ticket = parse_qs(link.query)["ticket"][0]
    resp = await tools.get(
        f"/tools/app/_machete/session?ticket={ticket}&next=//evil.example/", allow_redirects=False
    )
    assert resp.headers["Location"] == "/tools/app/"


async def test_granted_tools_open_to_granted_people_only(
    clients: tuple[TestClient, TestClient], machete: Machete
) -> None:
    _api, tools = clients
    deployed(machete, "vault")
    machete.set_access("vault", "granted")
    for name, role in (("member", "viewer"), ("trusted", "viewer"), ("boss", "admin")):
        ensure_user(machete, name, role)
    machete.access.grant("vault", "viewer", user="trusted")
    for name, expected in (("member", 403), ("trusted", 200), ("boss", 200)):
        token = token_for(machete, name, "viewer")
        resp = await tools.get("/tools/vault/", headers={"Authorization": f"Bearer {token}"})
        assert resp.status == expected, name


async def put_access(api: TestClient, tool: str, access: str, token: str) -> Any:
    return await api.put(
        f"/api/tools/{tool}/access",
        json={"access": access},
        headers={"Authorization": f"Bearer {token}"},
    )


async def test_public_tools_open_to_anyone_and_only_maintainers_change_access(
    clients: tuple[TestClient, TestClient], machete: Machete
) -> None:
    api, tools = clients
    deployed(machete, "site")
    ensure_user(machete, "dev", "operator")
    dev = token_for(machete, "dev", "operator")
    resp = await put_access(api, "site", "public", dev)
    assert resp.status == 403
    machete.access.grant("site", "maintainer", user="dev")
    resp = await put_access(api, "site", "public", dev)
    assert resp.status == 200 and (await resp.json())["tool"]["name"] == "site"
    assert (await tools.get("/tools/site/")).status == 200
    resp = await put_access(api, "site", "everyone", dev)
    assert resp.status == 422


def test_a_manifest_cannot_set_its_own_access() -> None:
    """A tool's author does not decide who may open it: the key is ignored, with a warning."""
    loaded = load_manifest_text("name: t\nmachete:\n  port: 80\n  access: public\n", fmt="yaml")
    assert "$.machete.access: unknown key, ignored" in loaded.warnings


async def test_tightening_access_applies_at_once_though_the_route_is_cached(
    clients: tuple[TestClient, TestClient], machete: Machete
) -> None:
    api, tools = clients
    deployed(machete, "app")
    machete.set_access("app", "public")
    assert (await tools.get("/tools/app/")).status == 200  # the route (and access) is cached
    admin = token_for(machete, "boss", "admin")
    resp = await put_access(api, "app", "granted", admin)
    assert resp.status == 200
    assert (await tools.get("/tools/app/")).status == 401
    member = token_for(machete, "member", "viewer")
    resp = await tools.get("/tools/app/", headers={"Authorization": f"Bearer {member}"})
    assert resp.status == 403
