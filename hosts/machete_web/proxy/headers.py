"""Which headers cross the proxy, each way, and what MACHETE adds or removes."""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlsplit, urlunsplit

from multidict import CIMultiDict, CIMultiDictProxy

#: RFC 9110 §7.6.1 hop-by-hop headers, plus those the proxy sets itself.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
#: Cookies MACHETE sets for itself (sessions, CSRF); tools never see or set them.
MACHETE_COOKIE_PREFIXES = ("machete_", "__host-machete", "__secure-machete")
#: MACHETE's API tokens (``mch_<kind>_...``); a tool's own Basic or Bearer auth passes.
MACHETE_TOKEN_PREFIX = "bearer mch_"


def is_machete_cookie(name: str) -> bool:
    return name.strip().lower().startswith(MACHETE_COOKIE_PREFIXES)


def _named_in_connection(headers: CIMultiDictProxy[str] | CIMultiDict[str]) -> set[str]:
    named: set[str] = set()
    for value in headers.getall("Connection", []):
        named.update(token.strip().lower() for token in value.split(",") if token.strip())
    return named


def _drop(headers: CIMultiDictProxy[str] | CIMultiDict[str]) -> frozenset[str]:
    return HOP_BY_HOP | frozenset(_named_in_connection(headers))


def _without_machete_cookies(value: str) -> str:
    kept = [
        part.strip()
        for part in value.split(";")
        if part.strip() and not is_machete_cookie(part.split("=", 1)[0])
    ]
    return "; ".join(kept)


def request_headers(
    incoming: CIMultiDictProxy[str],
    *,
    peer: str,
    host: str,
    scheme: str,
    prefix: str,
    trusted_proxies: int,
) -> CIMultiDict[str]:
    """The headers a tool gets: the client's, less hop-by-hop ones and MACHETE's own
    credentials, plus ``X-Forwarded-*`` that say where it is published."""
    drop = _drop(incoming)
    out: CIMultiDict[str] = CIMultiDict()
    for key, value in incoming.items():
        lower = key.lower()
        if lower in drop or lower.startswith("x-forwarded-"):
            continue
        if lower == "cookie":
            value = _without_machete_cookies(value)
            if not value:
                continue
        if lower == "authorization" and value.strip().lower().startswith(MACHETE_TOKEN_PREFIX):
            continue
        out.add(key, value)
    chain = [peer]
    if trusted_proxies > 0:
        prior = [
            p.strip()
            for v in incoming.getall("X-Forwarded-For", [])
            for p in v.split(",")
            if p.strip()
        ]
        # Only the hops our own trusted proxies appended are believed.
        chain = prior[-trusted_proxies:] + chain
    out["X-Forwarded-For"] = ", ".join(chain)
    out["X-Forwarded-Host"] = host
    out["X-Forwarded-Proto"] = scheme
    if prefix:
        out["X-Forwarded-Prefix"] = prefix
    return out


def response_headers(
    upstream: CIMultiDictProxy[str], *, prefix: str = "", own_hosts: frozenset[str] = frozenset()
) -> CIMultiDict[str]:
    """The headers a client gets from a tool: less hop-by-hop ones and any attempt to set one
    of MACHETE's cookies; ``Location`` and ``Content-Location`` that point at the tool's own
    root are put back under ``prefix`` (a tool served at ``/tools/<name>/`` that redirects to
    ``/?x=1`` means ``/tools/<name>/?x=1``)."""
    drop = _drop(upstream)
    out: CIMultiDict[str] = CIMultiDict()
    for key, value in upstream.items():
        lower = key.lower()
        if lower in drop:
            continue
        if lower == "set-cookie" and _sets_machete_cookie(value):
            continue
        if lower in ("location", "content-location") and prefix:
            value = under_prefix(value, prefix, own_hosts)
        out.add(key, value)
    return out


def under_prefix(location: str, prefix: str, own_hosts: frozenset[str]) -> str:
    """``location`` as the client must follow it when the tool is served under ``prefix``.
    Only the tool's own root moves: a relative reference, another site, or a path already
    under the prefix stays as it is."""
    parts = urlsplit(location)
    if parts.scheme or parts.netloc:
        if parts.scheme not in ("http", "https", "") or parts.netloc.lower() not in own_hosts:
            return location  # another site: not the tool's to move
        location = urlunsplit(("", "", parts.path or "/", parts.query, parts.fragment))
    if not location.startswith("/") or location.startswith("//"):
        return location
    if location == prefix or location.startswith((prefix + "/", prefix + "?", prefix + "#")):
        return location
    return prefix + location


def _sets_machete_cookie(value: str) -> bool:
    name = value.split("=", 1)[0]
    if is_machete_cookie(name):
        return True
    try:
        parsed = SimpleCookie()
        parsed.load(value)
    except CookieError:
        return False
    return any(is_machete_cookie(k) for k in parsed)
