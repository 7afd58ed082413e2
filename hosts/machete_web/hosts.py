"""Which ``Host`` names the server answers to (DNS rebinding), and the tools' origins.

A page on ``evil.example`` whose name the attacker points at 127.0.0.1 talks to us with
``Host: evil.example``; the browser then treats us as that site, so origin checks that
compare ``Origin`` with ``Host`` pass. Every request is therefore checked against an allow-list
before routing, on the API listener and the tools listener alike.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from machete_core.domain.naming import is_valid_name
from machete_core.settings import Settings
from machete_web.keys import PLATFORM, TOOLS_LISTENER, machete_of

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def split_host(host: str) -> str | None:
    """The lower-case name of a ``Host`` header (no port); None when it is malformed."""
    host = host.strip().lower()
    if not host or any(c in host for c in "/\\@?#% \t"):
        return None
    if host.startswith("["):
        end = host.find("]")
        if end < 0 or (host[end + 1 :] and not host[end + 1 :].startswith(":")):
            return None
        return host[1:end]
    name, _, port = host.partition(":")
    if port and not port.isdigit():
        return None
    return name.rstrip(".") or None


@functools.lru_cache(maxsize=16)
def allowed_hosts(settings: Settings) -> frozenset[str]:
    """Computed once per settings (it may ask the resolver for this machine's names)."""
    if settings.allowed_hosts:
        return frozenset(h.lower().rstrip(".") for h in settings.allowed_hosts)
    names = set(LOOPBACK_NAMES)
    if settings.host not in ("0.0.0.0", "::", ""):
        names.add(settings.host.lower())
    else:
        names.update({socket.gethostname().lower(), socket.getfqdn().lower()})
    if settings.public_url:
        public = urlsplit(settings.public_url).hostname
        if public:
            names.add(public.lower())
    return frozenset(names)


def host_allowed(name: str, allowed: frozenset[str]) -> bool:
    return name in allowed or any(a.startswith(".") and name.endswith(a) for a in allowed)


def tool_from_host(host: str, tools_domain: str) -> str | None:
    """``<tool>.<tools_domain>`` -> the tool's name."""
    if not tools_domain:
        return None
    name = split_host(host)
    suffix = "." + tools_domain.lower().strip(".")
    if name is None or not name.endswith(suffix):
        return None
    tool = name[: -len(suffix)]
    return tool if is_valid_name(tool) else None


def allowed_host_middleware(*, tools: bool) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        from machete_web.problems import problem

        settings = _settings(request)
        name = split_host(request.headers.get("Host", ""))
        if name is None:
            return problem(400, "bad_host", "the request has no usable Host header")
        ok = host_allowed(name, allowed_hosts(settings)) or (
            tools and tool_from_host(name, settings.tools_domain) is not None
        )
        if not ok:
            return problem(
                421,
                "host_not_allowed",
                f"this server does not answer to {name!r}; an admin can add it to "
                "MACHETE_ALLOWED_HOSTS (or set MACHETE_PUBLIC_URL)",
            )
        return await handler(request)

    return middleware


def _settings(request: web.Request) -> Settings:
    return machete_of(request).settings


def tool_url(
    request: web.Request, settings: Settings, tool: str, raw_tail: str, *, by_host: bool = True
) -> str:
    """Where a tool's page lives for a browser: its own host with a tools domain, else the
    tools listener's ``/tools/<tool>/`` on the name the client used."""
    app = request.app[PLATFORM] if PLATFORM in request.app else request.app
    port = tools_port_for(app, settings)
    scheme = request.scheme
    if settings.tools_domain and by_host:
        return f"{scheme}://{tool}.{settings.tools_domain.strip('.')}:{port}{raw_tail}"
    name = split_host(request.headers.get("Host", "")) or "127.0.0.1"
    shown = f"[{name}]" if ":" in name else name
    return f"{scheme}://{shown}:{port}/tools/{tool}{raw_tail}"


def tools_origin_source(request: web.Request, settings: Settings) -> str:
    """The tools' origin(s) as a CSP source (a wildcard host with a tools domain): where the
    sign-in form's redirect chain may end up when it goes on to a tool."""
    app = request.app[PLATFORM] if PLATFORM in request.app else request.app
    port = tools_port_for(app, settings)
    if settings.tools_domain:
        return f"{request.scheme}://*.{settings.tools_domain.strip('.')}:{port}"
    name = split_host(request.headers.get("Host", "")) or "127.0.0.1"
    shown = f"[{name}]" if ":" in name else name
    return f"{request.scheme}://{shown}:{port}"


def tools_port_for(app: web.Application, settings: Settings) -> int:
    listener = app.get(TOOLS_LISTENER)
    return (
        listener.port if listener is not None and listener.port else settings.effective_tools_port
    )
