"""Who each request is, before any handler runs: a bearer token (``mch_...``, or one a plugin
recognises) or a session cookie, never both; cross-site checks for cookie requests; the API's
rate limit; and the route's policy (``route_policy.py``) checked by the core's ``authorize``."""

from __future__ import annotations

import hmac
import ipaddress
import math
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from machete_cli.client import discovery
from machete_core import log_context
from machete_core.access import tokens
from machete_core.access.principal import ANONYMOUS, Principal, local
from machete_core.domain.operations import LOCAL_CLI
from machete_core.errors import AuthenticationError, MacheteError
from machete_core.settings import Settings
from machete_web import route_policy
from machete_web.keys import MACHETE, METRICS, core
from machete_web.problems import problem
from machete_web.request_log import REQUEST_ID, request_id_for

__all__ = ["PRINCIPAL", "REQUEST_ID", "auth_middleware", "resolve"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PRINCIPAL = web.RequestKey("principal", Principal)
#: The credential of ``<home>/server.json`` (set by ``machete serve``; None in tests' apps).
LOCAL_CREDENTIAL = web.AppKey("local_credential", str)

SESSION_COOKIE = "machete_session"
#: Over HTTPS: Secure, Path=/ and no Domain, which the ``__Host-`` prefix makes browsers enforce.
SECURE_SESSION_COOKIE = "__Host-machete_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WWW_AUTHENTICATE = 'Bearer realm="machete"'


def is_https(request: web.Request, settings: Settings) -> bool:
    """Served over HTTPS: directly, or (with trusted proxies) as the proxy says."""
    if request.secure:
        return True
    if settings.trusted_proxies > 0:
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
        return proto == "https"
    return False


def client_address(request: web.Request, settings: Settings) -> str:
    """The socket peer; with N trusted proxies, the address the Nth proxy from us saw.
    ``X-Forwarded-For`` is ignored unless proxies are configured."""
    peer = request.remote or "?"
    if settings.trusted_proxies <= 0:
        return peer
    hops = [
        p.strip()
        for v in request.headers.getall("X-Forwarded-For", [])
        for p in v.split(",")
        if p.strip()
    ]
    if len(hops) >= settings.trusted_proxies:
        return hops[-settings.trusted_proxies][:64]
    return peer


def cookie_name(request: web.Request, settings: Settings) -> str:
    return SECURE_SESSION_COOKIE if is_https(request, settings) else SESSION_COOKIE


def set_session_cookie(
    response: web.StreamResponse,
    request: web.Request,
    settings: Settings,
    value: str,
    *,
    name: str | None = None,
    path: str = "/",
) -> None:
    secure = is_https(request, settings)
    response.set_cookie(
        name or cookie_name(request, settings),
        value,
        httponly=True,
        samesite="Lax",
        secure=secure,
        path=path,
        max_age=int(settings.session_max_seconds),
    )


def clear_session_cookie(
    response: web.StreamResponse, request: web.Request, settings: Settings
) -> None:
    for name in (SESSION_COOKIE, SECURE_SESSION_COOKIE):
        if name in request.cookies:
            response.del_cookie(name, path="/")


def _session_cookie(request: web.Request) -> str | None:
    return request.cookies.get(SECURE_SESSION_COOKIE) or request.cookies.get(SESSION_COOKIE)


async def resolve(request: web.Request) -> Principal:
    """The request's principal (anonymous without credentials); ``unauthenticated`` for a
    token that is not good."""
    machete = request.app[MACHETE]
    settings = machete.settings
    address = client_address(request, settings)
    rid = request.get(REQUEST_ID)
    header = request.headers.get("Authorization", "")
    cookie = _session_cookie(request)
    if header and cookie:
        raise AmbiguousCredentials()
    if header:
        scheme, _, value = header.strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer" and value.startswith(discovery.PREFIX):
            return _local_principal(request, value).with_request(address, rid)
        if scheme.lower() == "bearer" and tokens.looks_like_token(value):
            found = machete.auth.peek_token(value)
            if found is None:
                found = await core(request, machete.auth.from_token, value, address=address)
            return found.with_request(address, rid)
        answers = await core(
            request,
            machete.plugins.call_host_hook,
            "machete_actor_from_credentials",
            scheme=scheme,
            credentials=value,
            settings=settings,
            auth=machete.auth,
        )
        for _plugin, principal in answers:
            if isinstance(principal, Principal) and principal.signed_in:
                return principal.with_request(address, rid)
        raise AuthenticationError("unknown credentials")
    if cookie:
        session: Principal | None = machete.auth.peek_session(cookie) or await core(
            request, machete.auth.from_session, cookie, address=address
        )
        if session is not None:
            return session.with_request(address, rid)
    return ANONYMOUS.with_request(address, rid)


def _local_principal(request: web.Request, value: str) -> Principal:
    """The credential ``machete serve`` published in its state directory for the CLI on this
    machine: the host's ``local`` actor, from a connection of this machine only."""
    expected = request.app.get(LOCAL_CREDENTIAL)
    if not expected or not hmac.compare_digest(value, expected) or not _same_machine(request):
        raise AuthenticationError("unknown credentials")
    return local(LOCAL_CLI)


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


def _same_machine(request: web.Request) -> bool:
    peer = request.remote or ""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    return is_loopback(peer) or (sockname is not None and peer == sockname[0])


class AmbiguousCredentials(Exception):
    pass


class RateLimiter:
    """A token bucket per token, session or address, in this process."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, now: float | None = None) -> float:
        """0 when allowed, else the seconds to wait."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        level, last = self._buckets.get(key, (float(self.burst), now))
        level = min(float(self.burst), level + (now - last) * self.rate)
        if level < 1:
            self._buckets[key] = (level, now)
            return (1 - level) / self.rate
        self._buckets[key] = (level - 1, now)
        if len(self._buckets) > 100_000:
            self._buckets.clear()  # bounded memory; a flood resets, never grows
        return 0.0


LIMITER = web.AppKey("rate_limiter", RateLimiter)


def _limit_key(principal: Principal) -> str:
    if principal.token is not None:
        return "token:" + principal.token.public_id
    if principal.session is not None:
        return "session:" + principal.session
    return "addr:" + (principal.address or "?")


def _cross_site(request: web.Request) -> bool:
    """A cookie request that changes state must say it comes from our own page."""
    site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    own = {f"http://{request.host}", f"https://{request.host}"}
    if origin is not None:
        return origin not in own
    return site not in ("same-origin", "none")


def _credential_method(request: web.Request) -> str | None:
    """How the request tries to sign in (the ``method`` label of auth attempts), or None."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip().startswith(discovery.PREFIX):
            return "local"
        if scheme.lower() == "bearer" and tokens.looks_like_token(value.strip()):
            return "token"
        return "plugin"
    return "session" if _session_cookie(request) else None


def _count_attempt(request: web.Request, method: str | None, outcome: str) -> None:
    if method is not None and METRICS in request.app:
        request.app[METRICS].auth_attempt(method, outcome)


def _loopback_allowed(request: web.Request) -> bool:
    key = route_policy.route_key(request)
    if key not in route_policy.LOOPBACK:
        return False
    return is_loopback(client_address(request, request.app[MACHETE].settings))


def unauthenticated(message: str) -> web.Response:
    response = problem(401, "unauthenticated", message)
    response.headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    return response


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    machete = request.app[MACHETE]
    if REQUEST_ID not in request:
        request[REQUEST_ID] = request_id_for(request)
    policy = route_policy.policy_for(request)
    method = _credential_method(request)
    try:
        principal = await resolve(request)
    except AmbiguousCredentials:
        return problem(
            400,
            "ambiguous_credentials",
            "send a session cookie or an Authorization header, not both",
        )
    except AuthenticationError as exc:
        _count_attempt(request, method, "failed")
        return unauthenticated(exc.message)
    if method is not None:
        signed_in = principal.signed_in or principal.trusted
        _count_attempt(request, method, "ok" if signed_in else "failed")
    request[PRINCIPAL] = principal
    if principal.signed_in or principal.trusted:
        # Undone with the rest of the request's context by the request middleware.
        log_context.bind(actor=principal.actor().describe())
    if principal.session is not None and request.method not in SAFE_METHODS:
        if _cross_site(request):
            await core(
                request,
                machete.core.access.auditor.record,
                principal,
                f"{request.method} {request.path}"[:64],
                outcome="denied",
                reason="cross-site request with a session cookie",
            )
            return problem(
                403,
                "cross_origin",
                "a signed-in request that changes state must come from this site",
            )
    # The API's limit: the dashboard page and the /tools/ redirects are not the API.
    wait = (
        request.app[LIMITER].take(_limit_key(principal)) if request.path.startswith("/api/") else 0
    )
    if wait > 0:
        response = problem(429, "rate_limited", "too many requests; slow down")
        response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
        return response
    if policy == route_policy.PUBLIC or _loopback_allowed(request):
        return await handler(request)
    if policy is None:
        return problem(403, "forbidden", "this route has no permission entry")
    if not (principal.signed_in or principal.trusted):
        # Trusted: the host's own CLI with the credential of <home>/server.json.
        return unauthenticated("sign in, or send an API token")
    if policy == route_policy.PERSON:
        if principal.session is None:
            return problem(403, "forbidden", "sign in as a person for this (not with a token)")
        return await handler(request)
    if principal.restricted and policy != route_policy.ENROL:
        return problem(
            403,
            "enrol_second_factor",
            "enrol a second factor first: POST /api/auth/totp, then /confirm",
        )
    if policy not in (route_policy.SIGNED_IN, route_policy.ENROL):
        acting = machete.acting_as(principal)
        tool = request.match_info.get("tool")
        if tool is None and acting.allows_at_once(policy):
            return await handler(request)  # nothing to look up: no thread needed
        try:
            await core(request, acting.authorize, policy, tool)
        except MacheteError as exc:
            if exc.code == "tool_not_found" and tool is not None:
                return problem(404, "tool_not_found", f"no tool named {tool!r}")
            raise
    return await handler(request)


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """CORS only for the configured origins (exact matches; never ``null``, never reflected
    otherwise), and without cookies: programs on those origins send tokens."""
    allowed = request.app[MACHETE].settings.cors_origins
    if not allowed:
        return await handler(request)
    origin = request.headers.get("Origin", "")
    ok = origin != "null" and origin in allowed
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        response: web.StreamResponse = web.Response(status=204 if ok else 403)
    else:
        response = await handler(request)
    response.headers.add("Vary", "Origin")
    if ok:
        response.headers["Access-Control-Allow-Origin"] = origin
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE"
            response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
            response.headers["Access-Control-Max-Age"] = "600"
    return response
