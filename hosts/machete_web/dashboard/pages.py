"""What every page shares: rendering with who is signed in and what they may do, the strict
security headers, refusals as pages (a 401 goes to the sign-in page and comes back), and the
small helpers of plain HTML forms (read the form, 303 to the result)."""

from __future__ import annotations

import datetime
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
import jinja2
from aiohttp import web
from multidict import MultiDictProxy

from machete_core.access.principal import ANONYMOUS, Principal
from machete_core.errors import InvalidInputError
from machete_web import route_policy
from machete_web.api.common import machete
from machete_web.authn import PRINCIPAL
from machete_web.hosts import tools_origin_source
from machete_web.keys import MACHETE, core

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: No inline script or style, nothing from elsewhere, never in a frame. Forms post here only;
#: their redirects may go on to the tools' origin (signing in on the way to a tool).
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self' {tools}; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
#: The navigation: (path, label, the action it needs; None: any signed-in person).
NAV = (
    ("/", "Tools", "tools.read"),
    ("/install", "Install", "tools.install"),
    ("/events", "Events", "events.read"),
    ("/people", "People", "users.read"),
    ("/audit", "Audit log", "audit.read"),
    ("/plugins", "Plugins", "plugins.read"),
    ("/settings", "Settings", "settings.read"),
)
ACCOUNT_ACTIONS = ("tokens.own",)


def configure(env: jinja2.Environment) -> None:
    env.filters["when"] = when
    env.filters["duration"] = duration
    env.globals["quote"] = lambda s: quote(str(s), safe="")
    env.filters["safe_route"] = safe_route


def safe_route(path: str) -> bool:
    """A manifest's ``ui.routes`` path that stays inside the tool's URL space."""
    return (
        path.startswith("/")
        and ".." not in path
        and "//" not in path
        and "\\" not in path
        and all(c.isprintable() and not c.isspace() for c in path)
    )


def when(at: float | None) -> str:
    """An absolute UTC time (the ``<relative-time>`` component shows it as an age)."""
    if not at:
        return ""
    return datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60)} s"


def is_page(request: web.Request) -> bool:
    """One of the dashboard's pages, or a browser asking for a page that does not exist."""
    key = route_policy.route_key(request)
    if key is None:
        return not request.path.startswith("/api/") and "text/html" in request.headers.get(
            "Accept", ""
        )
    return key in route_policy.PAGES


def principal(request: web.Request) -> Principal:
    return request.get(PRINCIPAL, ANONYMOUS)


async def page_context(request: web.Request, context: dict[str, Any]) -> dict[str, Any]:
    """What every page shows besides its own: who is signed in and the navigation they may
    use (asked of the pool only when the answer needs the database)."""
    p = principal(request)
    allowed: frozenset[str] = frozenset()
    if p.signed_in or p.trusted:
        m = machete(request)
        wanted = [a for _, _, a in NAV] + list(ACCOUNT_ACTIONS)
        if all(m.allows_at_once(a) for a in wanted):
            allowed = frozenset(wanted)
        else:
            allowed = await core(request, m.allowed, wanted)
    nav = [(href, label) for href, label, action in NAV if action in allowed]
    base = {
        "me": p if (p.signed_in or p.trusted) else None,
        "person": p.session is not None,
        "nav": nav,
        "may": allowed,
        "path": request.path,
        "title": "",
    }
    return {**base, **context}


async def render(
    request: web.Request,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
) -> web.Response:
    """The page, with the navigation this principal may use."""
    full = await page_context(request, context)
    return aiohttp_jinja2.render_template(template, request, full, status=status)


def see_other(location: str) -> web.Response:
    """The answer to a form: go and GET the result (a reload does not post again)."""
    return web.Response(status=303, headers={"Location": location})


def safe_next(value: str | None, default: str = "/") -> str:
    """Only a path on this origin: never another site after signing in."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return default


async def form(request: web.Request) -> MultiDictProxy[Any]:
    """The fields of the page's form (an upload's file is streamed by its own view)."""
    if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise InvalidInputError("send the page's form")
    return await request.post()


def field(data: MultiDictProxy[Any], name: str, *, required: bool = True, limit: int = 4096) -> str:
    raw = data.get(name, "")
    value = raw if isinstance(raw, str) else ""
    if "password" not in name and name != "value":
        value = value.strip()
    if required and not value:
        raise InvalidInputError(f"'{name}' is required", details={"path": name})
    if len(value) > limit:
        raise InvalidInputError(f"'{name}' is too long", details={"path": name})
    return value


def field_errors(exc: Exception) -> dict[str, str]:
    """A validation error as ``{field: message}`` for the form that caused it."""
    details = getattr(exc, "details", None) or {}
    path = str(details.get("path", "")).lstrip("$.").split(".")[-1] or "_form"
    return {path: getattr(exc, "message", str(exc))}


@web.middleware
async def page_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """For the dashboard's routes: strict headers, and refusals (the API's JSON problem
    documents, from the policy or a handler) answered as pages."""
    if not is_page(request):
        return await handler(request)
    response = await handler(request)
    if isinstance(response, web.Response) and response.status >= 400:
        response = await _as_page(request, response)
    if not response.prepared:
        tools = tools_origin_source(request, request.app[MACHETE].settings)
        response.headers.setdefault("Content-Security-Policy", CSP.format(tools=tools))
        for key, value in HEADERS.items():
            response.headers.setdefault(key, value)
        if response.content_type == "text/html":
            response.headers.setdefault("Cache-Control", "no-store")
    return response


async def _as_page(request: web.Request, response: web.Response) -> web.Response:
    if response.content_type != "application/json":
        return response
    try:
        error = json.loads(response.body or b"{}").get("error") or {}  # type: ignore[arg-type]
    except (ValueError, TypeError):
        error = {}
    code, message = error.get("code", "error"), error.get("message", response.reason)
    if response.status == 401 and request.method in ("GET", "HEAD"):
        return web.Response(
            status=303, headers={"Location": "/sign-in?next=" + quote(request.path_qs, safe="")}
        )
    page = await render(
        request,
        "error.html",
        {"status": response.status, "code": code, "message": message, "title": "Refused"},
        status=response.status,
    )
    for name in ("Retry-After", "WWW-Authenticate"):
        if name in response.headers:
            page.headers[name] = response.headers[name]
    return page
