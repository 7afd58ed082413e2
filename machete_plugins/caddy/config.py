"""Caddy's JSON for MACHETE's routes: one route object per tool, tagged with an ``@id``
(``machete.<installation>.<tool>``), so a tool's whole route is replaced in one admin call.

Each route: the tool's hosts (``<tool>.<tools_domain>``, custom domains) or its path on the
tools origin (``/tools/<tool>/``); a request id; unless the tool is public, ``forward_auth``
to the server (which answers with the tools origin's own sessions and tokens); the prefix
stripped for path requests unless the tool keeps it; MACHETE's cookie and tokens removed on
the way to the tool and any MACHETE cookie the tool tries to set removed on the way back.
"""

from __future__ import annotations

import json
from typing import Any

from machete_core.domain.records import Endpoint
from machete_core.domain.routes import PublishedRoute, RouteSet
from machete_core.log_context import REQUEST_ID
from machete_core.settings import Settings

#: Cookies MACHETE sets for itself (the proxy's rule, in RE2 for Caddy).
_MACHETE_COOKIE = r"(?i)(^|;)\s*(machete_|__host-machete|__secure-machete)[^;]*"
_MACHETE_SET_COOKIE = r"(?i)^\s*(machete_|__host-machete|__secure-machete).*$"
_MACHETE_TOKEN = r"(?i)^\s*bearer\s+mch_.*$"
_REQUEST_ID = "^" + REQUEST_ID.pattern + "$"
#: What no tool's route matches (the built-in proxy's answer, in its envelope).
NOT_FOUND_BODY = json.dumps(
    {
        "success": False,
        "error": {"code": "not_found", "message": "no tool here: tools live at /tools/<name>/"},
    }
)
#: Where the server's authorization answer is asked (the ingress-auth listener).
AUTHORIZE_PATH = "/authorize"


def server_name(settings: Settings) -> str:
    return settings.caddy_server or f"machete-{settings.installation}"


def id_prefix(settings: Settings) -> str:
    return f"machete.{settings.installation}."


def tool_prefix(settings: Settings) -> str:
    """Tools' objects apart from MACHETE's own (``not-found`` could be a tool's name)."""
    return id_prefix(settings) + "tool."


def route_id(settings: Settings, tool: str) -> str:
    return tool_prefix(settings) + tool


def tls_policy_id(settings: Settings, tool: str) -> str:
    return route_id(settings, tool) + ".tls"


def dial(endpoint: Endpoint) -> str:
    host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
    return f"{host}:{endpoint.port}"


def _listen_host(settings: Settings) -> str:
    host = settings.host
    return f"[{host}]" if ":" in host else host


def base_config(settings: Settings, admin_socket: str) -> dict[str, Any]:
    """The configuration managed Caddy starts with: its admin API on a unix socket, its
    storage in the state directory, and MACHETE's server with no route yet."""
    tools_port = settings.effective_tools_port
    https_port = settings.effective_caddy_https_port
    policies = []
    if settings.tools_domain and settings.tools_domain_tls == "internal":
        domain = settings.tools_domain.strip(".").lower()
        policies.append(
            {
                "@id": id_prefix(settings) + "tools-domain.tls",
                "subjects": [f"*.{domain}", domain],
                "issuers": [{"module": "internal"}],
            }
        )
    return {
        "admin": {"listen": f"unix/{admin_socket}", "config": {"persist": False}},
        "storage": {"module": "file_system", "root": str(settings.home / "caddy" / "data")},
        "logging": {"logs": {"default": {"level": "WARN"}}},
        "apps": {
            "http": {
                "http_port": tools_port,
                "https_port": https_port,
                "servers": {server_name(settings): server_config(settings)},
            },
            "tls": {"automation": {"policies": policies}},
            # Never into the host's trust store: people trust the root they are given.
            "pki": {"certificate_authorities": {"local": {"install_trust": False}}},
        },
    }


def server_config(settings: Settings, *, managed: bool = True) -> dict[str, Any]:
    """MACHETE's own server. Managed, it listens on the tools port (plain: Caddy's
    ``http_port``) and the HTTPS port. In an operator's Caddy, whose ``http_port`` is not
    ours to change, it is the plain tools port only: TLS there comes from pointing
    ``MACHETE_CADDY_SERVER`` at the operator's HTTPS server."""
    host = _listen_host(settings)
    listen = [f"{host}:{settings.effective_tools_port}"]
    extra: dict[str, Any] = {"automatic_https": {"disable": True}}
    if managed:
        listen.append(f"{host}:{settings.effective_caddy_https_port}")
        # One server, so a tool's route is one object; TLS on every listener but the
        # HTTP port (Caddy adds this itself only when all listeners are on the HTTPS port).
        extra = {"tls_connection_policies": [{}]}
    return {
        "listen": listen,
        **extra,
        # No HTTP/3: it would take a UDP port too, for no gain on a team's network.
        "protocols": ["h1", "h2"],
        # Tools' routes go before it: what no tool has is a 404, not Caddy's empty 200.
        "routes": [
            {
                "@id": id_prefix(settings) + "not-found",
                "handle": [
                    {
                        "handler": "static_response",
                        "status_code": 404,
                        "headers": {"Content-Type": ["application/json"]},
                        "body": NOT_FOUND_BODY,
                    }
                ],
            }
        ],
    }


def _seconds(value: float) -> str:
    return f"{max(value, 0.001):g}s"


def _forward_auth(settings: Settings, route: RouteSet, secret: str) -> dict[str, Any]:
    return {
        "handler": "reverse_proxy",
        "upstreams": [{"dial": settings.ingress_auth_dial}],
        "rewrite": {"method": "GET", "uri": AUTHORIZE_PATH},
        "headers": {
            "request": {
                "set": {
                    "X-Forwarded-Method": ["{http.request.method}"],
                    "X-Forwarded-Uri": ["{http.request.uri}"],
                    "X-Machete-Tool": [route.tool],
                    "X-Machete-Prefix": ["{http.vars.machete_prefix}"],
                    "X-Machete-Ingress": [secret],
                },
                # The question carries the client's credentials, never its body.
                "delete": ["Content-Length", "Content-Type", "Transfer-Encoding"],
            }
        },
        # 2xx: the request goes on to the tool; any other answer (401, 403, a redirect to
        # sign in, a tools-origin session cookie) is the client's.
        "handle_response": [
            {
                "match": {"status_code": [2]},
                "routes": [{"handle": [{"handler": "vars", "machete_authorized": "yes"}]}],
            }
        ],
    }


def _to_tool(settings: Settings, route: RouteSet) -> dict[str, Any]:
    timeout = route.read_timeout or settings.proxy_read_timeout
    return {
        "handler": "reverse_proxy",
        "upstreams": [{"dial": dial(u)} for u in route.upstreams],
        "load_balancing": {"selection_policy": {"policy": "round_robin"}},
        # No ``flush_interval: -1``: in Caddy 2.6 it ties each request to the configuration
        # it started under, so every route change would cut the requests in flight. Caddy
        # flushes event streams and answers of unknown length as they come anyway.
        "transport": {
            "protocol": "http",
            "dial_timeout": "5s",
            "response_header_timeout": _seconds(timeout),
        },
        "headers": {
            "request": {
                "set": {"X-Forwarded-Prefix": ["{http.vars.machete_prefix}"]},
                "replace": {
                    "Cookie": [
                        {"search_regexp": _MACHETE_COOKIE, "replace": ""},
                        {"search_regexp": r"^\s*;\s*", "replace": ""},
                    ],
                    "Authorization": [{"search_regexp": _MACHETE_TOKEN, "replace": ""}],
                },
            },
            "response": {
                "replace": {"Set-Cookie": [{"search_regexp": _MACHETE_SET_COOKIE, "replace": ""}]}
            },
        },
    }


def _unavailable(route: RouteSet) -> dict[str, Any]:
    """A known tool that is not running (stopped, never deployed): what the built-in proxy
    answers too."""
    body = {
        "success": False,
        "error": {"code": "tool_unavailable", "message": f"{route.tool} is not running"},
    }
    return {
        "handler": "static_response",
        "status_code": 503,
        "headers": {"Content-Type": ["application/json"], "Retry-After": ["5"]},
        "body": json.dumps(body),
    }


def route_config(settings: Settings, route: RouteSet, secret: str) -> dict[str, Any]:
    names = [h.name for h in route.hosts]
    paths = [route.path_prefix, route.path_prefix + "/*"] if route.path_prefix else []
    match: list[dict[str, Any]] = []
    if names:
        match.append({"host": names})
    if paths:
        match.append({"path": paths})
    steps: list[dict[str, Any]] = [
        # A client's request id is kept when it is well-formed, else Caddy makes one.
        {
            "match": [{"not": [{"header_regexp": {"X-Request-ID": {"pattern": _REQUEST_ID}}}]}],
            "handle": [
                {
                    "handler": "headers",
                    "request": {"set": {"X-Request-ID": ["{http.request.uuid}"]}},
                }
            ],
        },
        {
            "handle": [
                {
                    "handler": "headers",
                    "response": {"set": {"X-Request-ID": ["{http.request.header.X-Request-ID}"]}},
                }
            ]
        },
    ]
    if paths:
        # On the shared tools origin (not on the tool's own host names) the path says which
        # tool: the prefix is remembered for the tool's X-Forwarded-Prefix.
        on_path: dict[str, Any] = {"path": paths}
        if names:
            on_path["not"] = [{"host": names}]
        steps.append(
            {
                "match": [on_path],
                "handle": [{"handler": "vars", "machete_prefix": route.path_prefix}],
            }
        )
    if route.access != "public":
        steps.append({"handle": [_forward_auth(settings, route, secret)]})
    if paths and route.strip_prefix:
        on_path = {"path": paths}
        if names:
            on_path["not"] = [{"host": names}]
        steps.append(
            {
                "match": [on_path],
                "handle": [{"handler": "rewrite", "strip_path_prefix": route.path_prefix}],
            }
        )
    steps.append(
        {"handle": [_to_tool(settings, route) if route.upstreams else _unavailable(route)]}
    )
    return {
        "@id": route_id(settings, route.tool),
        "match": match,
        "handle": [
            {
                "handler": "vars",
                "machete_tool": route.tool,
                "machete_release": str(route.release),
                "machete_digest": route.digest,
            },
            {"handler": "subroute", "routes": steps},
        ],
        "terminal": True,
    }


def tls_policy(settings: Settings, route: RouteSet) -> dict[str, Any] | None:
    """Custom domains of the tool that take the internal CA (the tools domain has one
    policy of its own in the base configuration)."""
    internal = [h.name for h in route.hosts if h.tls == "internal"]
    domain = settings.tools_domain.strip(".").lower()
    internal = [n for n in internal if not (domain and n.endswith("." + domain))]
    if not internal:
        return None
    return {
        "@id": tls_policy_id(settings, route.tool),
        "subjects": internal,
        "issuers": [{"module": "internal"}],
    }


def parse_published(settings: Settings, routes: list[Any]) -> list[PublishedRoute]:
    """MACHETE's routes among a server's routes (others are an operator's, left alone)."""
    found = []
    prefix = tool_prefix(settings)
    for item in routes or []:
        if not isinstance(item, dict):
            continue
        rid = str(item.get("@id", ""))
        if not rid.startswith(prefix):
            continue
        tool = rid[len(prefix) :]
        handle = item.get("handle") or [{}]
        tag = handle[0] if isinstance(handle[0], dict) else {}
        hosts: list[str] = []
        for matcher in item.get("match") or []:
            hosts.extend(matcher.get("host") or [])
        upstreams = _upstreams_in(item)
        try:
            release = int(tag.get("machete_release", 0))
        except (TypeError, ValueError):
            release = 0
        found.append(
            PublishedRoute(
                tool=tool,
                release=release,
                digest=str(tag.get("machete_digest", "")),
                upstreams=upstreams,
                hosts=tuple(hosts),
            )
        )
    return sorted(found, key=lambda p: p.tool)


def _upstreams_in(item: dict[str, Any]) -> tuple[Endpoint, ...]:
    for handler in item.get("handle") or []:
        for step in handler.get("routes") or []:
            for inner in step.get("handle") or []:
                if inner.get("handler") != "reverse_proxy" or "rewrite" in inner:
                    continue
                out = []
                for upstream in inner.get("upstreams") or []:
                    host, _, port = str(upstream.get("dial", "")).rpartition(":")
                    if port.isdigit():
                        out.append(Endpoint(host=host.strip("[]"), port=int(port)))
                return tuple(out)
    return ()
