"""Signing in over HTTP: tokens, sessions and their cookies, CSRF and WebSocket origins, CORS,
throttling (with spoofed X-Forwarded-For), the rate limit, TOTP, and revocation of live
streams."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import attrs
import pyotp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text

from machete_core.access import tokens
from machete_core.machete import Machete, create_machete
from machete_core.settings import Settings
from machete_plugins import BUILTIN_PLUGINS
from machete_web import create_app
from machete_web.keys import EVENT_FEED
from tests.support.people import PASSWORD, ensure_user, token_for
from tests.support.pointing import PointingPlugin, deployed


def make(settings: Settings, **changes: Any) -> Machete:
    m = create_machete(attrs.evolve(settings, **changes), builtins=BUILTIN_PLUGINS)
    m.plugins.register(PointingPlugin(), "pointing")
    return m


@pytest.fixture
def machete(settings: Settings) -> Iterator[Machete]:
    m = make(settings)
    yield m
    m.close()


@pytest.fixture
async def client(aiohttp_client: Any, machete: Machete) -> TestClient:
    return await aiohttp_client(create_app(machete=machete))  # type: ignore[no-any-return]


def own_origin(client: TestClient) -> dict[str, str]:
    return {"Origin": f"http://{client.server.host}:{client.server.port}"}


async def sign_in(client: TestClient, name: str = "ann", **extra: Any) -> aiohttp.ClientResponse:
    return await client.post(
        "/api/auth/login",
        json={"username": name, "password": PASSWORD, **extra},
        headers=own_origin(client),
    )


# -- tokens ----------------------------------------------------------------------------------


async def test_tokens_are_shown_once_hashed_at_rest_and_checked_before_any_query(
    client: TestClient, machete: Machete
) -> None:
    text_ = token_for(machete, "ann", "admin")
    assert tokens.parse(text_) is not None
    public_id = text_.split("_")[2]
    # The database holds a SHA-256 of the secret, never the token or its secret.
    with machete.store.engine.connect() as conn:
        dump = "\n".join(
            str(row)
            for table in ("api_tokens", "audit_log", "sessions")
            for row in conn.execute(text(f"SELECT * FROM {table}"))
        )
    assert text_ not in dump and text_.split("_")[3][:32] not in dump
    assert public_id in dump
    # Listing shows the id and the last four characters only.
    resp = await client.get("/api/tokens", headers={"Authorization": f"Bearer {text_}"})
    assert resp.status == 403  # a token cannot manage tokens, not even list them
    listed = machete.access.tokens("ann")
    assert listed[0].last_four == text_[-4:]
    # A changed checksum is refused without a lookup (the parser says no).
    broken = text_[:-1] + ("A" if text_[-1] != "A" else "B")
    assert tokens.parse(broken) is None
    resp = await client.get("/api/tools", headers={"Authorization": f"Bearer {broken}"})
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_expired_and_revoked_tokens_are_refused_on_the_next_request(
    client: TestClient, machete: Machete
) -> None:
    text_ = token_for(machete, "ann", "admin")
    headers = {"Authorization": f"Bearer {text_}"}
    assert (await client.get("/api/tools", headers=headers)).status == 200
    row = machete.access.tokens("ann")[0]
    assert row.last_used_at is not None and row.last_used_from == "127.0.0.1"
    machete.auth.clock = lambda: time.time() + 91 * 86400  # default expiry: 90 days
    resp = await client.get("/api/tools", headers=headers)
    assert resp.status == 401 and "expired" in await resp.text()
    machete.auth.clock = time.time
    machete.access.revoke_token(row.public_id)
    resp = await client.get("/api/tools", headers=headers)
    assert resp.status == 401 and "revoked" in await resp.text()


async def test_tokens_are_made_by_people_signed_in(client: TestClient, machete: Machete) -> None:
    ensure_user(machete, "ann", "operator")
    assert (await sign_in(client)).status == 200
    resp = await client.post(
        "/api/tokens",
        json={"name": "ci", "scopes": ["tools:read"], "expires_days": 7},
        headers=own_origin(client),
    )
    assert resp.status == 201
    made = await resp.json()
    assert (
        made["token"].startswith("mch_pat_") and made["record"]["last_four"] == made["token"][-4:]
    )
    assert "secret" not in str(made["record"]) and made["token"] not in str(made["record"])
    # Scopes that do not exist, and tokens for others, are refused.
    resp = await client.post(
        "/api/tokens", json={"name": "x", "scopes": ["root"]}, headers=own_origin(client)
    )
    assert resp.status == 422
    resp = await client.post(
        "/api/tokens",
        json={"name": "x", "scopes": ["tools:read"], "user": "owner"},
        headers=own_origin(client),
    )
    assert resp.status in (403, 404)


def test_a_restricted_service_account_token_acts_on_its_tools_only(machete: Machete) -> None:
    for name in ("a", "b"):
        deployed(machete, name)
    machete.access.add_user("ci", "operator", service=True)
    text_, record = machete.access.create_token(
        "deploys", ("tools:operate", "tools:read"), tools=("b",), user="ci"
    )
    assert text_.startswith("mch_sat_") and record.kind == "service"
    acting = machete.acting_as(machete.auth.from_token(text_))
    assert [v.name for v in acting.list_tools()] == ["b"]
    with pytest.raises(Exception, match="no tool named 'a'"):
        acting.get("a")


# -- sessions ----------------------------------------------------------------------------------


async def test_session_cookie_flags_over_http(client: TestClient, machete: Machete) -> None:
    ensure_user(machete, "ann", "viewer")
    resp = await sign_in(client)
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith("machete_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie and "Domain" not in cookie


async def test_session_cookie_over_https_behind_a_trusted_proxy(
    aiohttp_client: Any, settings: Settings
) -> None:
    m = make(settings, trusted_proxies=1)
    try:
        client = await aiohttp_client(create_app(machete=m))
        ensure_user(m, "ann", "viewer")
        resp = await client.post(
            "/api/auth/login",
            json={"username": "ann", "password": PASSWORD},
            headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"},
        )
        cookie = resp.headers["Set-Cookie"]
        assert cookie.startswith("__Host-machete_session=")
        assert "Secure" in cookie and "Path=/" in cookie and "Domain" not in cookie
        # The audit log names the client the proxy saw.
        assert m.store.audit(actor="ann")[-1].address == "203.0.113.9"
    finally:
        m.close()


async def test_sign_in_rotates_logout_ends_and_idle_expiry(
    client: TestClient, machete: Machete
) -> None:
    ensure_user(machete, "ann", "viewer")
    first = (await sign_in(client)).cookies["machete_session"].value
    second = (await sign_in(client)).cookies["machete_session"].value
    assert first != second
    assert (await client.get("/api/auth/me")).status == 200
    machete.auth.clock = lambda: time.time() + machete.settings.session_idle_seconds + 5
    assert (await client.get("/api/auth/me")).status == 401
    machete.auth.clock = time.time
    await sign_in(client)
    resp = await client.post("/api/auth/logout", headers=own_origin(client))
    assert resp.status == 200
    assert (await client.get("/api/auth/me")).status == 401


async def test_wrong_passwords_and_unknown_users_answer_alike(
    client: TestClient, machete: Machete
) -> None:
    ensure_user(machete, "ann", "viewer")
    a = await client.post("/api/auth/login", json={"username": "ann", "password": "x" * 12})
    b = await client.post("/api/auth/login", json={"username": "bob", "password": "x" * 12})
    assert a.status == b.status == 401
    assert (await a.json())["error"] == (await b.json())["error"]


async def test_cookie_and_bearer_together_are_refused(client: TestClient, machete: Machete) -> None:
    ensure_user(machete, "ann", "viewer")
    await sign_in(client)
    resp = await client.get("/api/tools", headers={"Authorization": f"Bearer {token_for(machete)}"})
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "ambiguous_credentials"


# -- CSRF, CORS and WebSocket origins --------------------------------------------------------


async def test_cross_site_requests_with_the_cookie_change_nothing(
    client: TestClient, machete: Machete
) -> None:
    deployed(machete, "app")
    ensure_user(machete, "ann", "owner")
    await sign_in(client)
    before = machete.store.get_tool("app")
    attempts = [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {},  # neither header: a signed-in change must say it is ours
    ]
    for headers in attempts:
        resp = await client.patch("/api/tools/app", json={"enabled": False}, headers=headers)
        assert resp.status == 403, headers
        resp = await client.put("/api/tools/app/access", json={"access": "public"}, headers=headers)
        assert resp.status == 403, headers
    assert machete.store.get_tool("app") == before
    denied = [r for r in machete.store.audit() if r.outcome == "denied"]
    assert len(denied) >= len(attempts)
    ok = await client.put(
        "/api/tools/app/access",
        json={"access": "public"},
        headers={"Sec-Fetch-Site": "same-origin"},
    )
    assert ok.status == 200 and machete.store.get_tool("app").access == "public"


async def test_no_get_route_changes_state(client: TestClient, machete: Machete) -> None:
    from machete_web import route_policy
    from tests.unit.test_access_matrix import fill

    deployed(machete, "app")
    headers = {"Authorization": f"Bearer {token_for(machete)}"}

    def snapshot() -> list[Any]:
        with machete.store.engine.connect() as conn:
            return [
                list(conn.execute(text(f"SELECT * FROM {t} ORDER BY 1")))
                for t in (
                    "tools",
                    "releases",
                    "operations",
                    "users",
                    "grants",
                    "teams",
                    "tool_config",
                )
            ]

    before = snapshot()
    for (method, path), _policy in route_policy.ROUTES.items():
        if method in ("GET", "*"):
            url = fill(path, "app", "0" * 32)
            async with client.get(url, headers=headers, allow_redirects=False) as resp:
                if resp.content_type != "text/event-stream":  # live streams do not end
                    await resp.read()
    assert snapshot() == before


async def test_cors_is_off_by_default_and_never_reflects_strangers(
    aiohttp_client: Any, settings: Settings, client: TestClient
) -> None:
    for origin in ("https://evil.example", "null", "https://machete.example.evil.com"):
        resp = await client.get("/api/health", headers={"Origin": origin})
        assert "Access-Control-Allow-Origin" not in resp.headers
    m = make(settings, cors_origins=("https://machete.example",))
    try:
        allowed = await aiohttp_client(create_app(machete=m))
        for origin in ("https://evil.example", "null", "https://machete.example.evil.com"):
            resp = await allowed.get("/api/health", headers={"Origin": origin})
            assert "Access-Control-Allow-Origin" not in resp.headers
            assert "Origin" in resp.headers.getall("Vary")
        resp = await allowed.get("/api/health", headers={"Origin": "https://machete.example"})
        assert resp.headers["Access-Control-Allow-Origin"] == "https://machete.example"
        assert "Access-Control-Allow-Credentials" not in resp.headers
        pre = await allowed.options(
            "/api/tools",
            headers={"Origin": "https://machete.example", "Access-Control-Request-Method": "POST"},
        )
        assert pre.status == 204 and "Authorization" in pre.headers["Access-Control-Allow-Headers"]
    finally:
        m.close()


async def test_websocket_handshakes_check_origin_and_credentials(
    client: TestClient, machete: Machete
) -> None:
    deployed(machete, "app")
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect("/api/events")
    assert caught.value.status == 401
    headers = {"Authorization": f"Bearer {token_for(machete)}"}
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect(
            "/api/events", headers={**headers, "Origin": "https://evil.example"}
        )
    assert caught.value.status == 403
    ensure_user(machete, "viewer", "viewer")
    other = token_for(machete, "viewer", "viewer", tools=())
    machete.store.update_tool(machete.store.get_tool("app").id, access="granted")
    ws = await client.ws_connect("/api/tools/app/logs/follow", headers=headers)
    await ws.close()
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect(
            "/api/tools/ghost/logs/follow", headers={"Authorization": f"Bearer {other}"}
        )
    assert caught.value.status == 404


async def test_a_stream_closes_within_a_heartbeat_of_revocation(
    aiohttp_client: Any, settings: Settings
) -> None:
    m = make(settings, ws_heartbeat=0.5)
    try:
        client = await aiohttp_client(create_app(machete=m))
        text_ = token_for(m, "ann", "admin")
        ws = await client.ws_connect("/api/events", headers={"Authorization": f"Bearer {text_}"})
        await asyncio.sleep(0.2)
        m.access.revoke_token(text_.split("_")[2])
        started = asyncio.get_running_loop().time()
        msg = await ws.receive(timeout=5)
        elapsed = asyncio.get_running_loop().time() - started
        assert msg.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.CLOSING,
        )
        assert elapsed <= 0.5 + 0.5  # one heartbeat, and the check's own round trip
        await ws.close()
    finally:
        m.close()


# -- throttling --------------------------------------------------------------------------------


async def test_failed_sign_ins_slow_down_whatever_x_forwarded_for_says(
    client: TestClient, machete: Machete
) -> None:
    ensure_user(machete, "ann", "viewer")
    statuses = []
    for i in range(50):
        resp = await client.post(
            "/api/auth/login",
            json={"username": "ann", "password": "wrong password!"},
            headers={"X-Forwarded-For": f"198.51.100.{i}"},
        )
        statuses.append(resp.status)
        if resp.status == 429:
            assert int(resp.headers["Retry-After"]) >= 1
    free = machete.settings.login_free_attempts
    assert statuses[:free] == [401] * free
    assert statuses.count(429) >= 50 - free - 2
    # Even the right password waits its turn now: a growing delay, not a lockout.
    resp = await sign_in(client)
    assert resp.status == 429


async def test_a_trusted_proxy_count_keys_addresses_by_the_forwarded_client(
    aiohttp_client: Any, settings: Settings
) -> None:
    m = make(settings, trusted_proxies=1, login_free_attempts=3)
    try:
        client = await aiohttp_client(create_app(machete=m))
        seen = []
        for i in range(20):
            resp = await client.post(
                "/api/auth/login",
                json={"username": f"nobody{i}", "password": "x" * 12},
                headers={"X-Forwarded-For": "192.0.2.7"},
            )
            seen.append(resp.status)
        # One client address (as the proxy saw it), many names: the address is slowed down.
        assert 429 in seen
        assert m.store.failures("addr:192.0.2.7", 0)[0] >= 12
    finally:
        m.close()


async def test_the_api_rate_limit(aiohttp_client: Any, settings: Settings) -> None:
    m = make(settings, api_rate=1.0, api_burst=5)
    try:
        client = await aiohttp_client(create_app(machete=m))
        statuses = [(await client.get("/api/health")).status for _ in range(8)]
        assert statuses[:5] == [200] * 5 and statuses[-1] == 429
        resp = await client.get("/api/health")
        assert int(resp.headers["Retry-After"]) >= 1
    finally:
        m.close()


# -- TOTP --------------------------------------------------------------------------------------


async def test_totp_enrolment_and_sign_in(client: TestClient, machete: Machete) -> None:
    ensure_user(machete, "ann", "viewer")
    await sign_in(client)
    resp = await client.post("/api/auth/totp", headers=own_origin(client))
    uri = (await resp.json())["otpauth_uri"]
    totp = pyotp.parse_uri(uri)
    resp = await client.post(
        "/api/auth/totp/confirm", json={"code": "000000"}, headers=own_origin(client)
    )
    assert resp.status == 401
    resp = await client.post(
        "/api/auth/totp/confirm", json={"code": totp.now()}, headers=own_origin(client)
    )
    assert resp.status == 200
    used = totp.now()
    client.session.cookie_jar.clear()
    resp = await sign_in(client)
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "totp_required"
    # The code that confirmed enrolment is spent: a code is good once.
    resp = await sign_in(client, totp=used)
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "totp_required"
    machete.auth.clock = lambda: time.time() + 30  # the next code
    resp = await sign_in(client, totp=totp.at(time.time() + 30))
    assert resp.status == 200
    resp = await sign_in(client, totp=totp.at(time.time() + 30))
    assert resp.status == 401  # and that one is spent too
    assert machete.store.get_user("ann").totp_secret not in (None, totp.secret)  # sealed


async def test_required_totp_restricts_the_session_to_enrolment(
    aiohttp_client: Any, settings: Settings
) -> None:
    m = make(settings, require_totp_from="admin")
    try:
        client = await aiohttp_client(create_app(machete=m))
        ensure_user(m, "boss", "admin")
        resp = await sign_in(client, "boss")
        assert (await resp.json())["must_enrol_totp"] is True
        resp = await client.get("/api/tools")
        assert resp.status == 403 and (await resp.json())["error"]["code"] == "enrol_second_factor"
        assert (await client.get("/api/auth/me")).status == 200
        uri = (await (await client.post("/api/auth/totp", headers=own_origin(client))).json())[
            "otpauth_uri"
        ]
        code = pyotp.parse_uri(uri).now()
        resp = await client.post(
            "/api/auth/totp/confirm", json={"code": code}, headers=own_origin(client)
        )
        assert resp.status == 200
        assert (await client.get("/api/tools")).status == 200  # the renewed session is whole
    finally:
        m.close()


async def test_a_revocation_by_another_process_reaches_this_server_within_a_poll(
    client: TestClient, machete: Machete, settings: Settings
) -> None:
    """The server keeps resolved principals a few seconds; a change made elsewhere (the CLI on
    the host, another server on the same PostgreSQL) reaches it through the event log."""
    text_ = token_for(machete, "ann", "admin")
    headers = {"Authorization": f"Bearer {text_}"}
    feed = client.server.app[EVENT_FEED]
    # The feed reads from where it started: a revocation before that is not its to deliver.
    await asyncio.wait_for(feed.ready.wait(), 60)
    assert (await client.get("/api/tools", headers=headers)).status == 200  # now cached
    other = create_machete(settings)  # another process's view of the same state
    try:
        other.access.revoke_token(text_.split("_")[2])
        revoked_at = other.last_event_id()
    finally:
        other.close()
    # Not a wall-clock bound: once the feed has read the revocation's event (its next poll),
    # the very next request must be refused, long before the cache's lifetime is over.
    loop = asyncio.get_running_loop()
    started = loop.time()
    while feed.last_id < revoked_at:
        assert loop.time() - started < 60, "the event feed never read the revocation"
        await asyncio.sleep(0.05)
    assert (await client.get("/api/tools", headers=headers)).status == 401


def test_no_jwt_library_with_known_flaws_is_installed() -> None:
    """threats.md's JWT row: MACHETE's tokens are opaque (a hash is stored), not JWTs; if PyJWT
    is present at all it is at least 2.13.0, and python-jose is absent."""
    from importlib.metadata import PackageNotFoundError, version

    with pytest.raises(PackageNotFoundError):
        version("python-jose")
    try:
        installed = tuple(int(p) for p in version("PyJWT").split(".")[:3])
    except PackageNotFoundError:
        return
    assert installed >= (2, 13, 0)
