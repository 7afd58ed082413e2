"""Routes as desired state: what an ingress must serve for one tool, and what it reports
having published. Both are plain records; the ingress providers turn them into their own
configuration (the built-in proxy reads them, Caddy gets JSON through its admin API)."""

from __future__ import annotations

import hashlib
import json

import attrs

from machete_core.domain.records import Endpoint

#: How a host name gets its certificate: Caddy's internal CA (names nobody outside can
#: resolve), ACME (public names), or none (served on the plain HTTP listener only).
TLS_MODES = ("internal", "acme", "auto")


@attrs.frozen
class RouteHost:
    """A host name routed whole to a tool (``<tool>.<tools_domain>`` or a custom domain)."""

    name: str
    #: ``internal``, ``acme`` or ``auto`` (the ingress decides from the name).
    tls: str = "auto"


@attrs.frozen
class RouteSet:
    """Everything an ingress needs to serve one tool, computed from the database (the tool's
    live release, its domains, its access mode) and the runtime (the release's upstreams)."""

    tool: str
    release: int
    #: Every replica's address; requests are spread over them.
    upstreams: tuple[Endpoint, ...]
    hosts: tuple[RouteHost, ...] = ()
    #: ``/tools/<tool>`` on the tools origin; requests under it go to the tool.
    path_prefix: str = ""
    #: Whether the tool gets its path without the prefix (the manifest's ``strip_prefix``).
    strip_prefix: bool = True
    #: Seconds to wait for the tool's answer; None: the installation's default.
    read_timeout: float | None = None
    #: ``public``, ``members`` or ``granted``: whether the ingress asks MACHETE first.
    access: str = "members"

    @property
    def digest(self) -> str:
        """A short fingerprint of everything above: an ingress stores it with what it
        publishes, so the reconciler can tell a published route from the desired one."""
        data = attrs.asdict(self)
        data["upstreams"] = sorted((e["host"], e["port"]) for e in data["upstreams"])
        data["hosts"] = sorted((h["name"], h["tls"]) for h in data["hosts"])
        blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@attrs.frozen
class PublishedRoute:
    """What an ingress says it serves for one tool (only routes MACHETE tagged as its own)."""

    tool: str
    release: int
    #: The :attr:`RouteSet.digest` of what was published.
    digest: str
    upstreams: tuple[Endpoint, ...] = ()
    hosts: tuple[str, ...] = ()
