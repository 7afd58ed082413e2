"""The dashboard's pages through the real app (aiohttp's test client, tools on the pointing
runtime): sign-in with the form, every page rendered for who may see it, the strict headers,
actions offered only to who may take them and refused anyway when posted, secrets never in a
page, per-field install errors, and the live streams resumed without a lost or repeated line."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import attrs
import pytest

from machete_core.machete import Machete, create_machete
from machete_core.settings import Settings
from machete_plugins import BUILTIN_PLUGINS
from machete_web import create_app
from tests.support.people import PASSWORD, ensure_user
from tests.support.pointing import PointingPlugin, deployed

SECRET = "sup3r-secret-value-9f2c"


@pytest.fixture
def machete(settings: Settings) -> Iterator[Machete]:
    m = create_machete(settings, builtins=BUILTIN_PLUGINS)
    m.plugins.register(PointingPlugin(), "pointing")
    deployed(m, "alpha")
    deployed(m, "beta")
    ensure_user(m, "olive", "owner")
    ensure_user(m, "vic", "viewer")
    yield m
    m.close()


async def signed_in(aiohttp_client: Any, machete: Machete, name: str) -> Any:
    client = await aiohttp_client(create_app(machete=machete))
    resp = await client.post(
        "/sign-in",
        data={"username": name, "password": PASSWORD, "next": "/"},
        headers=origin(client),
        allow_redirects=False,
    )
    assert resp.status == 303, await resp.text()
    assert resp.headers["Location"] == "/"
    return client


def origin(client: Any) -> dict[str, str]:
    return {"Origin": f"http://{client.server.host}:{client.server.port}"}


PAGES = [
    "/",
    "/install",
    "/tool/alpha",
    "/events",
    "/people",
    "/audit",
    "/plugins",
    "/settings",
    "/profile",
    "/tokens",
]


async def test_anonymous_is_sent_to_sign_in_and_back(aiohttp_client: Any, machete: Machete) -> None:
    client = await aiohttp_client(create_app(machete=machete))
    resp = await client.get("/tool/alpha?tail=50", allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"] == "/sign-in?next=%2Ftool%2Falpha%3Ftail%3D50"
    page = await client.get("/sign-in?next=/tool/alpha")
    html = await page.text()
    assert 'name="next" value="/tool/alpha"' in html
    # Only a path of this origin is followed after signing in.
    html = await (await client.get("/sign-in?next=//evil.example/")).text()
    assert 'name="next" value="/"' in html


async def test_every_page_renders_with_strict_headers(
    aiohttp_client: Any, machete: Machete
) -> None:
    client = await signed_in(aiohttp_client, machete, "olive")
    for path in PAGES:
        resp = await client.get(path)
        assert resp.status == 200, (path, await resp.text())
        csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        html = await resp.text()
        assert "<script>" not in html and "style=" not in html, path
        assert resp.headers["Cache-Control"] == "no-store"
    # A page that does not exist is a page too (for a browser), with the same headers.
    resp = await client.get("/no-such-page", headers={"Accept": "text/html"})
    assert resp.status == 404 and "text/html" in resp.headers["Content-Type"]
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    api = await client.get("/api/no-such-route", headers={"Accept": "text/html"})
    assert api.status == 404 and api.content_type == "application/json"


async def test_a_viewer_is_offered_no_action_and_refused_anyway(
    aiohttp_client: Any, machete: Machete
) -> None:
    client = await signed_in(aiohttp_client, machete, "vic")
    html = await (await client.get("/tool/alpha")).text()
    for action in ("operate", "remove", "config", "access", "grants"):
        assert f"/tool/alpha/{action}" not in html, action
    nav = await (await client.get("/")).text()
    assert 'href="/install"' not in nav and 'href="/people"' not in nav
    for path, data in [
        ("/tool/alpha/operate", {"action": "stop"}),
        ("/tool/alpha/remove", {"confirm": "alpha"}),
        ("/tool/alpha/config", {"key": "A", "value": "b"}),
        ("/install", {"url": "https://example.com/x.git"}),
        ("/people/users", {"name": "eve", "role": "owner"}),
    ]:
        resp = await client.post(path, data=data, headers=origin(client), allow_redirects=False)
        assert resp.status == 403, (path, resp.status)
        assert "text/html" in resp.headers["Content-Type"]
    assert machete.operations("alpha") == []
    assert machete.store.find_user("eve") is None


async def test_a_post_from_another_site_is_refused(aiohttp_client: Any, machete: Machete) -> None:
    client = await signed_in(aiohttp_client, machete, "olive")
    resp = await client.post(
        "/tool/alpha/operate",
        data={"action": "stop"},
        headers={"Origin": "http://evil.example"},
        allow_redirects=False,
    )
    assert resp.status == 403
    assert machete.operations("alpha") == []


async def test_secrets_are_write_only(aiohttp_client: Any, machete: Machete) -> None:
    client = await signed_in(aiohttp_client, machete, "olive")
    machete.store.update_tool(machete.store.get_tool("alpha").id, current_release_id=None)
    resp = await client.post(
        "/tool/alpha/config",
        data={"key": "API_KEY", "value": SECRET, "secret": "on"},
        headers=origin(client),
        allow_redirects=False,
    )
    assert resp.status == 303, await resp.text()
    html = await (await client.get("/tool/alpha")).text()
    assert "API_KEY" in html and "user:olive" in html
    assert SECRET not in html
    for path in [*PAGES, "/api/tools/alpha/config", "/api/tools/alpha", "/api/events"]:
        body = await (await client.get(path)).text()
        assert SECRET not in body, path


async def test_install_errors_come_back_by_field(aiohttp_client: Any, machete: Machete) -> None:
    client = await signed_in(aiohttp_client, machete, "olive")
    resp = await client.post(
        "/install",
        data={"url": "https://example.com/x.git", "port": "99999"},
        headers=origin(client),
    )
    assert resp.status == 422
    html = await resp.text()
    assert 'id="port-error"' in html and 'aria-invalid="true"' in html
    assert 'value="https://example.com/x.git"' in html  # what was typed stays
    resp = await client.post("/install", data={"url": ""}, headers=origin(client))
    assert resp.status == 422 and 'id="url-error"' in await resp.text()
    assert machete.list_tools() and len(machete.list_tools()) == 2


async def test_remove_needs_the_name_typed(aiohttp_client: Any, machete: Machete) -> None:
    client = await signed_in(aiohttp_client, machete, "olive")
    resp = await client.post(
        "/tool/alpha/remove",
        data={"confirm": "alph"},
        headers=origin(client),
        allow_redirects=False,
    )
    assert resp.status == 422
    assert machete.operations("alpha") == []


async def test_the_operation_log_resumes_exactly(aiohttp_client: Any, machete: Machete) -> None:
    """Cut the stream anywhere, reconnect with the last id: every line once, in order."""
    op = machete.submit("restart", "alpha")
    from pathlib import Path

    lines = [f"line {i} {'é' * (i % 3)}" for i in range(5000)]
    Path(op.log_path).parent.mkdir(parents=True, exist_ok=True)
    Path(op.log_path).write_text("".join(f"{t}\n" for t in lines))
    machete.store.update_operation(op.id, status="failed", finished_at=1.0)
    client = await signed_in(aiohttp_client, machete, "olive")
    got: list[str] = []
    last = None
    for _round in range(100):
        headers = {"Last-Event-ID": last} if last else {}
        resp = await client.get(f"/operation/{op.id}/stream", headers=headers)
        # Read one batch, then drop the connection mid-stream.
        text = ""
        while "\n\n" not in text.partition("event: lines")[2]:
            chunk = await resp.content.readany()
            if not chunk:
                break
            text += chunk.decode()
        resp.close()
        batch = re.search(r"event: lines\nid: (\d+)\ndata: (.*)\n", text)
        if batch is None:
            break
        import json

        got.extend(json.loads(batch.group(2))["lines"])
        last = batch.group(1)
    assert got == lines


async def test_every_form_writes_an_audit_row(aiohttp_client: Any, settings: Settings) -> None:
    """Each of the dashboard's forms, posted as a browser would, leaves an audit row (the core
    audits the verb; the form is only another way in), and the walk reaches every form."""
    import pyotp

    from machete_core.access import bootstrap
    from machete_web import route_policy

    loopback = attrs.evolve(settings, notify_allowed_networks=("127.0.0.0/8",))
    m = create_machete(loopback, builtins=BUILTIN_PLUGINS)
    m.plugins.register(PointingPlugin(), "pointing")
    try:
        for name in ("app", "other", "gone"):
            deployed(m, name)
        m.store.update_tool(m.store.get_tool("app").id, current_release_id=None)
        running = m.submit("start", "other")
        client = await aiohttp_client(create_app(machete=m))
        m.auth.write_setup_token()
        token = bootstrap.read_setup_token(m.settings.home)
        covered: set[tuple[str, str]] = set()

        async def post(path: str, url: str, data: dict[str, str]) -> Any:
            before = m.store.audit()[-1].id if m.store.audit() else 0
            resp = await client.post(url, data=data, headers=origin(client), allow_redirects=False)
            assert resp.status < 500, (url, resp.status)
            assert m.store.audit(after_id=before), f"no audit row for POST {url} ({resp.status})"
            covered.add(("POST", path))
            return resp

        new_password = "a new password for the owner"
        await post("/setup", "/setup", {"token": token, "username": "root", "password": "p" * 14})
        await post(
            "/profile/password",
            "/profile/password",
            {"current_password": "p" * 14, "new_password": new_password},
        )
        html = await (await post("/profile/totp", "/profile/totp", {})).text()
        uri = re.search(r"otpauth://[^<\"]+", html)
        assert uri is not None
        totp = pyotp.parse_uri(uri.group(0).replace("&amp;", "&"))
        await post("/profile/totp/confirm", "/profile/totp/confirm", {"code": totp.now()})
        await post("/sign-out", "/sign-out", {})
        m.auth.clock = lambda: __import__("time").time() + 30
        code = totp.at(__import__("time").time() + 30)
        await post(
            "/sign-in", "/sign-in", {"username": "root", "password": new_password, "totp": code}
        )
        device = m.device_logins.start("a terminal")
        await post("/device", "/device", {"user_code": device.user_code, "decision": "approve"})
        await post("/tokens", "/tokens", {"name": "ci", "scopes": "tools:read"})
        [made] = [t for t in m.access.tokens(None) if t.name == "ci"]
        await post("/tokens/{token}/revoke", f"/tokens/{made.public_id}/revoke", {})
        await post(
            "/people/users",
            "/people/users",
            {"name": "bob", "role": "viewer", "password": "b" * 14},
        )
        await post(
            "/people/users/{user}", "/people/users/bob", {"change": "role", "role": "operator"}
        )
        await post("/people/teams", "/people/teams", {"name": "web"})
        await post(
            "/people/teams/{team}/members",
            "/people/teams/web/members",
            {"user": "bob", "member": "add"},
        )
        await post(
            "/tool/{tool}/grants",
            "/tool/app/grants",
            {"kind": "user", "subject": "bob", "role": "viewer"},
        )
        await post("/tool/{tool}/access", "/tool/app/access", {"access": "granted"})
        made_hook = await post("/tool/{tool}/hook", "/tool/app/hook", {"change": "enable"})
        hook_page = await made_hook.text()
        assert made_hook.status == 201 and 'id="hook-secret"' in hook_page
        hook_secret = re.search(r'id="hook-secret">(whsec_[^<]+)<', hook_page)
        assert hook_secret is not None
        await post("/tool/{tool}/hook", "/tool/app/hook", {"change": "poll", "seconds": "300"})
        made_channel = await post(
            "/settings/notifications",
            "/settings/notifications",
            {"name": "hq", "kind": "webhook", "target": "http://127.0.0.1:9/in", "tools": "app"},
        )
        channel_page = await made_channel.text()
        assert made_channel.status == 201 and 'id="hook-secret"' not in channel_page
        channel_secret = re.search(r'id="channel-secret">(whsec_[^<]+)<', channel_page)
        assert channel_secret is not None
        assert m.notifications.get("hq").tools == ["app"]
        await post(
            "/tool/{tool}/notifications",
            "/tool/app/notifications",
            {"name": "app-mail", "kind": "email", "target": "team@example.com"},
        )
        for change in ("test", "disable", "enable"):
            await post("/notifications/{channel}", "/notifications/app-mail", {"change": change})
        await post("/notifications/{channel}", "/notifications/hq", {"change": "remove"})
        await post(
            "/tool/{tool}/domains",
            "/tool/app/domains",
            {"name": "app.example.com", "tls": "internal"},
        )
        assert [d.name for d in m.domains.list("app")] == ["app.example.com"]
        await post("/tool/{tool}/domains", "/tool/app/domains", {"remove": "app.example.com"})
        assert m.domains.list("app") == []
        await post("/tool/{tool}/settings", "/tool/app/settings", {"enabled": "on", "builder": ""})
        await post(
            "/tool/{tool}/config",
            "/tool/app/config",
            {"key": "API_KEY", "value": SECRET, "secret": "on"},
        )
        await post("/operation/{op}/cancel", f"/operation/{running.id}/cancel", {})
        await post("/tool/{tool}/operate", "/tool/app/operate", {"action": "stop"})
        await post(
            "/install", "/install", {"url": "https://git.example.invalid/t.git", "name": "fresh"}
        )
        await post("/tool/{tool}/remove", "/tool/gone/remove", {"confirm": "gone"})
        forms = {k for k in route_policy.PAGES if k[0] == "POST"}
        assert forms - covered == set(), "forms the walk did not reach"
        with m.store.engine.connect() as conn:
            from sqlalchemy import text

            dump = "\n".join(str(r) for r in conn.execute(text("SELECT * FROM audit_log")))
        assert SECRET not in dump and new_password not in dump and token not in dump
        assert hook_secret.group(1) not in dump and channel_secret.group(1) not in dump
    finally:
        m.close()


async def test_an_upload_through_the_form_is_streamed_and_capped(
    aiohttp_client: Any, settings: Settings
) -> None:
    """The install form's archive (multipart) is spooled with the API's limits: a good one
    becomes an install operation; one over ``MACHETE_ARCHIVE_MAX_BYTES`` comes back on the
    form, and nothing is left on disk."""
    import io
    import tarfile

    import attrs

    m = create_machete(attrs.evolve(settings, archive_max_bytes=4096), builtins=BUILTIN_PLUGINS)
    ensure_user(m, "olive", "owner")
    try:
        client = await signed_in(aiohttp_client, m, "olive")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            data = b"FROM scratch\n"
            info = tarfile.TarInfo("Dockerfile")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        from aiohttp import FormData

        form = FormData()
        form.add_field("name", "boxed")
        form.add_field("archive", buf.getvalue(), filename="boxed.tar.gz")
        resp = await client.post(
            "/install", data=form, headers=origin(client), allow_redirects=False
        )
        assert resp.status == 303, await resp.text()
        [op] = m.operations()
        assert resp.headers["Location"] == f"/operation/{op.id}"
        assert op.kind == "install" and op.params["url"].startswith("upload:")
        big = FormData()
        big.add_field("archive", b"x" * 10_000, filename="big.tar.gz")
        resp = await client.post("/install", data=big, headers=origin(client))
        assert resp.status == 413
        assert "larger than 4096 bytes" in await resp.text()
        uploads = m.settings.home / "uploads"
        assert not any(p.name.startswith(".incoming") for p in uploads.rglob("*"))
    finally:
        m.close()


async def test_a_manifest_refused_is_shown_field_by_field(
    aiohttp_client: Any, machete: Machete
) -> None:
    """An install whose manifest is invalid fails at its manifest step, before any build; its
    page lists each problem with the field's path."""
    from machete_core.errors import ManifestError

    problems = ["$.machete.port: must be 1-65535", "$.ui.color: not a colour"]
    error = ManifestError(problems, source="machete.yml")
    op = machete.submit("restart", "alpha")
    machete.store.update_operation(
        op.id,
        status="failed",
        finished_at=1.0,
        error_code=error.code,
        error_message=error.message,
    )
    client = await signed_in(aiohttp_client, machete, "olive")
    html = await (await client.get(f"/operation/{op.id}")).text()
    assert "<code>invalid_manifest</code>" in html
    for problem in problems:
        assert f"<li><code>{problem}</code></li>" in html


async def test_streams_end_when_the_server_stops(aiohttp_client: Any, machete: Machete) -> None:
    """An open page's event stream ends at the server's shutdown (instead of holding it until
    aiohttp's timeout); the browser reconnects to the next server by itself."""
    import asyncio

    client = await signed_in(aiohttp_client, machete, "olive")
    resp = await client.get("/events/stream")
    assert resp.status == 200 and resp.content_type == "text/event-stream"
    assert (await resp.content.readany()).startswith(b"retry:")
    await client.app.shutdown()

    async def drain() -> None:
        while await resp.content.readany():
            pass

    await asyncio.wait_for(drain(), 5)


async def test_the_event_stream_replays_what_was_missed(
    aiohttp_client: Any, machete: Machete
) -> None:
    """A reconnect with the last event id it had gets exactly the events after it."""
    client = await signed_in(aiohttp_client, machete, "olive")
    for i in range(3):
        machete.events.publish("tool.configured", tool="alpha", keys=[f"K{i}"])
    ids = [e.id for e in machete.events_log(last=3)]
    resp = await client.get("/events/stream", headers={"Last-Event-ID": str(ids[0])})
    text = ""
    while text.count("event: event") < 2:
        text += (await resp.content.readany()).decode()
    resp.close()
    assert re.findall(r"id: (\d+)", text) == [str(ids[1]), str(ids[2])]
