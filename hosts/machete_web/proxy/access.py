"""Who may open a tool (its ``access`` setting: public, members, granted), on the tools'
origin. That origin has sessions of its own, one per tool, made from a one-time ticket the API
origin hands a signed-in browser (``/_machete/session``); no cookie is shared with the API.
Programs may send an API token instead. The proxy strips both before the tool sees anything.
"""

from __future__ import annotations

from urllib.parse import parse_qs, quote, unquote, urlsplit

from aiohttp import web

from machete_core.access import tokens
from machete_core.access.principal import ANONYMOUS, Principal
from machete_core.errors import AuthenticationError, MacheteError
from machete_web import hosts, problems
from machete_web.authn import client_address, set_session_cookie, unauthenticated
from machete_web.keys import MACHETE, PLATFORM, core
from machete_web.proxy.routing import Target, route

TOOL_COOKIE = "machete_tool_session"
SESSION_PATH = "/_machete/session"


async def _principal(request: web.Request, target: Target) -> Principal:
    machete = request.app[PLATFORM][MACHETE]
    address = client_address(request, machete.settings)
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "bearer" and tokens.looks_like_token(value.strip()):
        cached = machete.auth.peek_token(value.strip())
        if cached is not None:
            return cached
        return await core(request, machete.auth.from_token, value.strip(), address=address)
    cookie = request.cookies.get(TOOL_COOKIE)
    if cookie:
        found: Principal | None = machete.auth.peek_session(
            cookie, origin="tools", tool=target.tool
        ) or await core(
            request,
            machete.auth.from_session,
            cookie,
            origin="tools",
            tool=target.tool,
            address=address,
        )
        if found is not None:
            return found
    return ANONYMOUS


def _cookie_path(target: Target) -> str:
    return target.prefix + "/" if target.prefix else "/"


def _safe_next(raw: str) -> str:
    """Only a path on this origin (never ``//host`` or a scheme)."""
    path = unquote(raw) if raw else "/"
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


async def redeem(request: web.Request, target: Target) -> web.StreamResponse:
    """``/_machete/session?ticket=...&next=/path``: a tools-origin session for this tool."""
    machete = request.app[PLATFORM][MACHETE]
    address = client_address(request, machete.settings)
    # From the path the tool's origin was asked for (behind Caddy, this request's own query
    # is not the client's).
    query = parse_qs(urlsplit(target.raw_path).query)
    ticket = (query.get("ticket") or [""])[0]
    try:
        signed = await core(
            request, machete.auth.redeem_ticket, ticket, target.tool, address=address
        )
    except AuthenticationError as exc:
        return unauthenticated(exc.message)
    where = target.prefix + _safe_next((query.get("next") or ["/"])[0])
    # The ticket was in this URL: nothing of it may be kept or sent on.
    response = web.Response(
        status=302,
        headers={"Location": where, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )
    set_session_cookie(
        response,
        request,
        machete.settings,
        signed.session,
        name=TOOL_COOKIE,
        path=_cookie_path(target),
    )
    return response


def sign_in_url(request: web.Request, target: Target) -> str:
    """Where a browser goes to get a ticket: the API origin's ``/tools/<tool>/...``."""
    platform = request.app[PLATFORM]
    settings = platform[MACHETE].settings
    if settings.public_url:
        base = settings.public_url.rstrip("/")
    else:
        name = hosts.split_host(request.headers.get("Host", "")) or "127.0.0.1"
        if settings.tools_domain and name.endswith(settings.tools_domain.strip(".").lower()):
            name = settings.tools_domain.strip(".").lower()
        shown = f"[{name}]" if ":" in name else name
        base = f"{request.scheme}://{shown}:{settings.port}"
    return f"{base}/tools/{quote(target.tool)}{target.raw_path}"


async def check(request: web.Request, target: Target) -> web.StreamResponse | None:
    """None when the request may go on to the tool; else the answer to send instead."""
    machete = request.app[PLATFORM][MACHETE]
    try:
        # The router's cached route carries the tool's access: no lookup per request.
        access: str | None = (await route(request, target.tool)).access
    except MacheteError:
        access = None  # not running, or no such tool: the full check below says which
    if access == "public":
        return None
    try:
        principal = await _principal(request, target)
    except AuthenticationError as exc:
        return unauthenticated(exc.message)
    acting = machete.acting_as(principal)
    if access == "members" and principal.signed_in and acting.sees_every_tool():
        return None
    if await core(request, acting.may_open, target.tool):
        return None
    if principal.signed_in:
        return problems.problem(403, "forbidden", f"you have no access to {target.tool}")
    if request.headers.get("Sec-Fetch-Mode") == "navigate":
        raise web.HTTPFound(sign_in_url(request, target))
    return unauthenticated(f"{target.tool} is open to signed-in members only")
