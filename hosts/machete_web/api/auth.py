"""``/api/auth``: sign in and out (session cookies), who am I, the first owner's setup, a
password change, and enrolling a TOTP second factor."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from machete_core.access.authn import SignedIn
from machete_core.errors import InvalidInputError
from machete_core.state.people_views import TokenRecord, token_summary
from machete_web.api.common import body, machete
from machete_web.authn import (
    PRINCIPAL,
    REQUEST_ID,
    clear_session_cookie,
    client_address,
    set_session_cookie,
)
from machete_web.keys import MACHETE, core
from machete_web.metrics import sign_in_attempt


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/auth/login", login)
    r.add_post("/api/auth/token", cli_token)
    r.add_post("/api/auth/device", device_start)
    r.add_post("/api/auth/device/token", device_token)
    r.add_post("/api/auth/setup", first_owner)
    r.add_post("/api/auth/logout", logout)
    r.add_get("/api/auth/me", me)
    r.add_post("/api/auth/password", change_password)
    r.add_post("/api/auth/totp", start_totp)
    r.add_post("/api/auth/totp/confirm", confirm_totp)


def _text(data: dict[str, Any], key: str, *, required: bool = True, limit: int = 4096) -> str:
    value = data.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise InvalidInputError(f"'{key}' must be a non-empty string", details={"path": key})
    if len(value) > limit:
        raise InvalidInputError(f"'{key}' is too long", details={"path": key})
    return value


def _signed_in(request: web.Request, signed: SignedIn, status: int = 200) -> web.Response:
    response = web.json_response(
        {"user": signed.user, "role": signed.role, "must_enrol_totp": signed.restricted},
        status=status,
    )
    set_session_cookie(response, request, request.app[MACHETE].settings, signed.session)
    return response


async def password_sign_in(
    request: web.Request, username: str, password: str, totp: str | None
) -> SignedIn:
    """A sign-in with a password (the API's and the dashboard's form): the core's checks,
    throttle and audit row, and the sign-in metric."""
    m = request.app[MACHETE]
    with sign_in_attempt(request, "password"):
        return await core(
            request,
            m.auth.login,
            username,
            password,
            totp=totp or None,
            address=client_address(request, m.settings),
            request_id=request.get(REQUEST_ID),
        )


async def login(request: web.Request) -> web.Response:
    """``{"username", "password", "totp"?}``: a session cookie (the id changes every sign-in)."""
    data = await body(request)
    m = request.app[MACHETE]
    signed = await password_sign_in(
        request,
        _text(data, "username", limit=200),
        _text(data, "password"),
        _text(data, "totp", required=False, limit=16),
    )
    previous = request[PRINCIPAL]
    if previous.session is not None:
        # Signing in again replaces the session this browser had (no two ids for one sign-in).
        await core(request, m.auth.logout, previous)
    return _signed_in(request, signed)


async def cli_token(request: web.Request) -> web.Response:
    """``{"username", "password", "totp"?, "label"?}``: a CLI-kind token for ``machete login``
    (the checks and the throttle of a sign-in; no session is made)."""
    data = await body(request)
    m = request.app[MACHETE]
    username, password = _text(data, "username", limit=200), _text(data, "password")
    label = _text(data, "label", required=False, limit=200)
    with sign_in_attempt(request, "password"):
        text, record = await core(
            request,
            m.auth.cli_token,
            username,
            password,
            label=label,
            totp=_text(data, "totp", required=False, limit=16) or None,
            address=client_address(request, m.settings),
            request_id=request.get(REQUEST_ID),
        )
    return _token_answer(text, record)


async def device_start(request: web.Request) -> web.Response:
    """``{"label"?}``: a device login (RFC 8628 style): the CLI shows the user code and the
    page to approve it on, then polls ``/api/auth/device/token`` with the device code."""
    data = await body(request)
    m = request.app[MACHETE]
    started = await core(
        request,
        m.device_logins.start,
        _text(data, "label", required=False, limit=200),
        address=client_address(request, m.settings),
    )
    page = f"{request.url.origin()}/device"
    return web.json_response(
        {
            "device_code": started.device_code,
            "user_code": started.user_code,
            "verification_uri": page,
            "verification_uri_complete": f"{page}?code={started.user_code}",
            "expires_in": started.expires_in,
            "interval": started.interval,
        },
        status=201,
    )


async def device_token(request: web.Request) -> web.Response:
    """``{"device_code"}``: the CLI token once a person approved the code (once only);
    before that ``authorization_pending`` (or ``slow_down``), then ``access_denied`` or
    ``expired_token``."""
    data = await body(request)
    m = request.app[MACHETE]
    code = _text(data, "device_code", limit=200)
    with sign_in_attempt(request, "device"):
        text, record = await core(
            request,
            m.device_logins.poll,
            code,
            address=client_address(request, m.settings),
            request_id=request.get(REQUEST_ID),
        )
    return _token_answer(text, record)


def _token_answer(text: str, record: TokenRecord) -> web.Response:
    """A CLI token just made: its text (here only) and its record."""
    return web.json_response(
        {"token": text, "user": record.user, "record": token_summary(record)}, status=201
    )


async def first_owner(request: web.Request) -> web.Response:
    """``{"token", "username", "password"}``: the one-time setup token makes the first owner."""
    data = await body(request)
    m = request.app[MACHETE]
    signed = await core(
        request,
        m.auth.setup,
        _text(data, "token", limit=200),
        _text(data, "username", limit=200),
        _text(data, "password"),
        address=client_address(request, m.settings),
    )
    return _signed_in(request, signed, status=201)


async def logout(request: web.Request) -> web.Response:
    """Ends the session; with a CLI-kind token (``machete logout``), revokes that token."""
    m = request.app[MACHETE]
    principal = request[PRINCIPAL]
    await core(request, m.auth.logout, principal)
    revoked = await core(request, m.auth.revoke_own_token, principal)
    response = web.json_response({"signed_out": True, "token_revoked": revoked})
    clear_session_cookie(response, request, m.settings)
    return response


async def me(request: web.Request) -> web.Response:
    p = request[PRINCIPAL]
    return web.json_response(
        {
            "name": p.name,
            "kind": p.kind.value,
            "role": p.role.label if p.role else None,
            "token": None
            if p.token is None
            else {
                "id": p.token.public_id,
                "scopes": sorted(p.token.scopes),
                "tools": sorted(p.token.tools),
            },
            "must_enrol_totp": p.restricted,
        }
    )


async def change_password(request: web.Request) -> web.Response:
    """``{"current", "new"}``: ends the user's other sessions and CLI sign-ins."""
    data = await body(request)
    m = request.app[MACHETE]
    await core(
        request,
        m.auth.change_password,
        request[PRINCIPAL],
        _text(data, "current"),
        _text(data, "new"),
    )
    rotated = await core(request, m.auth.rotate, request[PRINCIPAL])
    response = web.json_response({"changed": True})
    if rotated is not None:
        set_session_cookie(response, request, m.settings, rotated.session)
    return response


async def start_totp(request: web.Request) -> web.Response:
    """A new TOTP secret (as an ``otpauth://`` URI for an authenticator app), not yet on."""
    uri = await core(request, machete(request).auth.start_totp, request[PRINCIPAL])
    return web.json_response({"otpauth_uri": uri})


async def confirm_totp(request: web.Request) -> web.Response:
    """``{"code"}``: turns the second factor on (and renews the session id)."""
    data = await body(request)
    m = request.app[MACHETE]
    rotated = await core(
        request, m.auth.confirm_totp, request[PRINCIPAL], _text(data, "code", limit=16)
    )
    response = web.json_response({"totp_enabled": True})
    if rotated is not None:
        set_session_cookie(response, request, m.settings, rotated.session)
    return response
