"""Signing in and out, the first owner's setup, one's own profile (password, second factor)
and one's own API tokens."""

from __future__ import annotations

from aiohttp import web

from machete_core.access.actions import SCOPES
from machete_core.errors import MacheteError
from machete_web.api.auth import password_sign_in
from machete_web.api.common import machete
from machete_web.authn import (
    clear_session_cookie,
    client_address,
    set_session_cookie,
)
from machete_web.dashboard.pages import (
    field,
    field_errors,
    form,
    principal,
    render,
    safe_next,
    see_other,
)
from machete_web.keys import MACHETE, core


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/sign-in", sign_in_page)
    r.add_post("/sign-in", sign_in)
    r.add_get("/setup", setup_page)
    r.add_post("/setup", first_owner)
    r.add_post("/sign-out", sign_out)
    r.add_get("/profile", profile)
    r.add_post("/profile/password", change_password)
    r.add_post("/profile/totp", start_totp)
    r.add_post("/profile/totp/confirm", confirm_totp)
    r.add_get("/device", device_page)
    r.add_post("/device", device_decide)
    r.add_get("/tokens", tokens)
    r.add_post("/tokens", create_token)
    r.add_post("/tokens/{token}/revoke", revoke_token)


async def sign_in_page(request: web.Request) -> web.StreamResponse:
    nxt = safe_next(request.query.get("next"))
    if principal(request).signed_in:
        return see_other(nxt)
    return await render(request, "sign_in.html", {"next": nxt, "errors": {}, "title": "Sign in"})


async def sign_in(request: web.Request) -> web.StreamResponse:
    data = await form(request)
    nxt = safe_next(data.get("next"))
    m = request.app[MACHETE]
    try:
        signed = await password_sign_in(
            request,
            field(data, "username", limit=200),
            field(data, "password"),
            field(data, "totp", required=False, limit=16),
        )
    except MacheteError as exc:
        context = {"next": nxt, "errors": {"_form": exc.message}, "title": "Sign in"}
        status = exc.http_status if exc.http_status in (401, 422, 429) else 400
        page = await render(request, "sign_in.html", context, status=status)
        if "retry_after" in exc.details:
            page.headers["Retry-After"] = str(exc.details["retry_after"])
        return page
    previous = principal(request)
    if previous.session is not None:
        await core(request, m.auth.logout, previous)
    return _with_session(request, "/profile" if signed.restricted else nxt, signed.session)


def _with_session(request: web.Request, location: str, session: str) -> web.Response:
    """Signed in (or the session renewed): its cookie, and on to ``location``."""
    response = see_other(location)
    set_session_cookie(response, request, request.app[MACHETE].settings, session)
    return response


async def setup_page(request: web.Request) -> web.StreamResponse:
    return await render(request, "setup.html", {"errors": {}, "title": "First start"})


async def first_owner(request: web.Request) -> web.StreamResponse:
    data = await form(request)
    m = request.app[MACHETE]
    try:
        signed = await core(
            request,
            m.auth.setup,
            field(data, "token", limit=200),
            field(data, "username", limit=200),
            field(data, "password"),
            address=client_address(request, m.settings),
        )
    except MacheteError as exc:
        context = {"errors": field_errors(exc) | {"_form": exc.message}, "title": "First start"}
        return await render(request, "setup.html", context, status=exc.http_status)
    return _with_session(request, "/", signed.session)


async def sign_out(request: web.Request) -> web.StreamResponse:
    m = request.app[MACHETE]
    await core(request, m.auth.logout, principal(request))
    response = see_other("/sign-in")
    clear_session_cookie(response, request, m.settings)
    return response


async def profile(request: web.Request, **extra: object) -> web.Response:
    status = int(str(extra.pop("status", 200)))
    notice = request.query.get("changed")
    context = {"title": "Profile", "errors": {}, "notice": notice, "otpauth": None, **extra}
    return await render(request, "profile.html", context, status=status)


async def change_password(request: web.Request) -> web.StreamResponse:
    data = await form(request)
    m = request.app[MACHETE]
    try:
        current, new = field(data, "current_password"), field(data, "new_password")
        await core(request, m.auth.change_password, principal(request), current, new)
    except MacheteError as exc:
        return await profile(request, errors=field_errors(exc), status=exc.http_status)
    rotated = await core(request, m.auth.rotate, principal(request))
    if rotated is not None:
        return _with_session(request, "/profile?changed=password", rotated.session)
    return see_other("/profile?changed=password")


async def start_totp(request: web.Request) -> web.Response:
    uri = await core(request, machete(request).auth.start_totp, principal(request))
    return await profile(request, otpauth=uri)


async def confirm_totp(request: web.Request) -> web.StreamResponse:
    data = await form(request)
    m = request.app[MACHETE]
    try:
        code = field(data, "code", limit=16)
        rotated = await core(request, m.auth.confirm_totp, principal(request), code)
    except MacheteError as exc:
        return await profile(request, errors={"code": exc.message}, status=exc.http_status)
    if rotated is not None:
        return _with_session(request, "/profile?changed=totp", rotated.session)
    return see_other("/profile?changed=totp")


async def device_page(request: web.Request) -> web.Response:
    """Approve a ``machete login --device``: the code the terminal shows (prefilled from the
    link it printed), and what asks (its label and address) before anything is approved."""
    code = request.query.get("code", "")
    waiting = None
    errors: dict[str, str] = {}
    if code:
        try:
            waiting = await core(request, machete(request).device_logins.pending, code)
        except MacheteError as exc:
            errors = {"user_code": exc.message}
    context = {"title": "Approve a device", "code": code, "waiting": waiting, "errors": errors}
    return await render(request, "device.html", context, status=422 if errors else 200)


async def device_decide(request: web.Request) -> web.Response:
    data = await form(request)
    code = field(data, "user_code", limit=20)
    approve = data.get("decision") == "approve"
    try:
        decided = await core(
            request,
            machete(request).device_logins.decide,
            principal(request),
            code,
            approve=approve,
        )
    except MacheteError as exc:
        refused: dict[str, object] = {"title": "Approve a device", "code": code}
        refused["errors"] = {"user_code": exc.message}
        return await render(request, "device.html", refused, status=exc.http_status)
    done: dict[str, object] = {"title": "Approve a device", "decided": decided, "errors": {}}
    return await render(request, "device.html", done)


async def tokens(request: web.Request, **extra: object) -> web.Response:
    status = int(str(extra.pop("status", 200)))
    found = await core(request, machete(request).access.tokens, None)
    mine = [t for t in found if t.user == principal(request).name]
    context = {
        "title": "API tokens",
        "tokens": mine,
        "scopes": sorted(SCOPES),
        "created": None,
        "errors": {},
        **extra,
    }
    return await render(request, "tokens.html", context, status=status)


async def create_token(request: web.Request) -> web.Response:
    data = await form(request)
    try:
        days_text = field(data, "expires_days", required=False, limit=6)
        days = int(days_text) if days_text else None
        tools = tuple(t.strip() for t in field(data, "tools", required=False).split(",") if t)
        text, _record = await core(
            request,
            machete(request).access.create_token,
            field(data, "name", limit=200),
            tuple(s for s in data.getall("scopes", []) if isinstance(s, str)),
            tools=tuple(t for t in tools if t),
            expires_days=days,
        )
    except ValueError:
        return await tokens(request, errors={"expires_days": "a number of days"}, status=422)
    except MacheteError as exc:
        return await tokens(request, errors=field_errors(exc), status=exc.http_status)
    # Shown once, on this answer only (never stored, never in a URL).
    return await tokens(request, created=text, status=201)


async def revoke_token(request: web.Request) -> web.StreamResponse:
    await core(request, machete(request).access.revoke_token, request.match_info["token"])
    return see_other("/tokens")
