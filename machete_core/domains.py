"""``Machete.domains``: custom domains routed to tools, and what the ingress serves.

A domain is a claim on a name for the whole installation (like a DNS record), so routing
one needs ``tools.domains`` (admins). Names that would take over another origin are refused
for everyone: MACHETE's own host names, names under the tools domain (``<tool>.<domain>``
belongs to the tool of that name), addresses, and ``localhost``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import attrs

from machete_core.access.guard import Guard
from machete_core.access.principal import Principal
from machete_core.domain.routes import TLS_MODES, RouteSet
from machete_core.domain.status import ToolStatus
from machete_core.errors import DomainNotFoundError, InvalidInputError, MacheteError
from machete_core.plugins.protocols import IssuesCertificates, ServesFromState
from machete_core.routing import desired_route, publish_tool, tool_hosts

if TYPE_CHECKING:
    from machete_core.context import Core
    from machete_core.state.domains import DomainRecord
    from machete_core.state.views import ToolRecord

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


@attrs.frozen
class DomainView:
    name: str
    tool: str
    #: internal, acme or auto.
    tls: str
    created_at: float
    created_by: str


@attrs.frozen
class RouteView:
    """One tool's route: what the database wants and whether the ingress serves it."""

    tool: str
    release: int | None
    hosts: list[str]
    path: str
    upstreams: list[str]
    #: ``published``, ``stale`` (the ingress serves another version), ``missing``,
    #: ``database`` (the ingress reads the route from the database at each request: the
    #: built-in proxy), or ``none`` (nothing to serve yet, with the built-in proxy).
    state: str


@attrs.frozen
class ListenerView:
    """The server's own process that serves the tools port (the built-in ingress): filled in
    by a running server, absent where no server answers (the CLI in local mode)."""

    pid: int | None
    port: int
    running: bool
    #: Times the server started it again after it ended.
    restarts: int
    #: How it last ended (a negative number is the signal), if it has ended.
    last_exit: int | None


@attrs.frozen
class IngressView:
    name: str
    #: None when it serves, else why not.
    problem: str | None
    routes: list[RouteView]
    listener: ListenerView | None = None


def check_domain(name: str, settings_hosts: frozenset[str], tools_domain: str) -> str:
    """The name as stored (lower case, no trailing dot), or :class:`InvalidInputError`."""
    clean = name.strip().rstrip(".").lower()
    fail = f"{name!r} is not a domain name this installation can route"
    if not clean or len(clean) > 253 or clean == "localhost" or clean.endswith(".localhost"):
        raise InvalidInputError(fail, details={"path": "name"})
    try:
        ipaddress.ip_address(clean.strip("[]"))
    except ValueError:
        pass
    else:
        raise InvalidInputError(fail + ": it is an address", details={"path": "name"})
    labels = clean.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise InvalidInputError(
            fail + ": use letters, digits and hyphens, at least two labels (IDNs as xn--)",
            details={"path": "name"},
        )
    domain = tools_domain.strip(".").lower()
    if domain and (clean == domain or clean.endswith("." + domain)):
        raise InvalidInputError(
            f"{clean} is under the tools domain {domain}, whose names belong to the tools "
            "of those names",
            details={"path": "name"},
        )
    if clean in settings_hosts:
        raise InvalidInputError(f"{clean} is MACHETE's own host name", details={"path": "name"})
    return clean


class Domains:
    def __init__(self, core: Core, principal: Principal) -> None:
        self._core = core
        self._guard = Guard(core, principal)
        self._principal = principal

    def _own_hosts(self) -> frozenset[str]:
        settings = self._core.settings
        names = {h.lstrip(".").lower() for h in settings.allowed_hosts}
        if settings.public_url:
            names.add((urlsplit(settings.public_url).hostname or "").lower())
        return frozenset(n for n in names if n)

    def list(self, tool: str | None = None) -> list[DomainView]:
        """One tool's domains (``tools.read`` on it), or every tool's (admins)."""
        if tool is not None:
            record = self._guard.tool("tools.read", tool)
            return [_view(d) for d in self._core.store.domains(record.id)]
        self._guard.authorize("settings.read")
        return [_view(d) for d in self._core.store.domains()]

    def add(self, tool: str, name: str, tls: str = "auto") -> DomainView:
        record = self._guard.tool("tools.domains", tool)
        if tls not in TLS_MODES:
            raise InvalidInputError(
                f"tls is one of {', '.join(TLS_MODES)}", details={"path": "tls"}
            )
        clean = check_domain(name, self._own_hosts(), self._core.settings.tools_domain)
        with self._guard.audited("tools.domains", record.name, f"+{clean}"):
            added = self._core.store.add_domain(
                record.id, clean, tls, self._principal.actor().describe()
            )
        self._core.events.publish("tool.domains", tool=record.name, added=clean)
        self._publish(record.name)
        return _view(added)

    def remove(self, tool: str, name: str) -> None:
        record = self._guard.tool("tools.domains", tool)
        clean = name.strip().rstrip(".").lower()
        with self._guard.audited("tools.domains", record.name, f"-{clean}"):
            if not self._core.store.remove_domain(record.id, clean):
                raise DomainNotFoundError(f"{record.name} has no domain {clean}")
        self._core.events.publish("tool.domains", tool=record.name, removed=clean)
        self._publish(record.name)

    def _publish(self, tool: str) -> None:
        """The route with its new names; a tool in the middle of an operation is left to
        it (its promotion reads the domains), else the reconciler finishes a failure."""
        if not self._core.tool_busy(tool):
            publish_tool(self._core, tool)

    def ingress(self) -> IngressView:
        """The ingress in use, whether it serves, and each tool's route against it."""
        self._guard.authorize("settings.read")
        core = self._core
        ingress = core.ingress()
        problem = ingress.health()
        try:
            published = {p.tool: p for p in ingress.published()}
        except MacheteError as exc:
            problem, published = problem or exc.message, {}
        routes = []
        from_state = isinstance(ingress, ServesFromState)
        for tool in core.store.list_tools():
            if from_state:
                # It reads the database per request: what the database says is served.
                routes.append(_from_state(core, tool))
                continue
            try:
                want: RouteSet | None = desired_route(core, tool)
            except MacheteError:
                want = None  # its upstreams cannot be told now
            have = published.get(tool.name)
            if have is None:
                state = "missing"
            elif want is None or have.digest != want.digest:
                state = "stale"
            else:
                state = "published"
            routes.append(
                RouteView(
                    tool=tool.name,
                    release=want.release if want else None,
                    hosts=[h.name for h in want.hosts] if want else [],
                    path=want.path_prefix + "/" if want else "",
                    upstreams=[f"{u.host}:{u.port}" for u in want.upstreams] if want else [],
                    state=state,
                )
            )
        return IngressView(name=core.settings.ingress, problem=problem, routes=routes)

    def root_certificate(self) -> str | None:
        """The ingress's internal CA root (PEM), for people to trust; None if it has none."""
        ingress = self._core.ingress()
        return ingress.root_certificate() if isinstance(ingress, IssuesCertificates) else None


def _from_state(core: Core, tool: ToolRecord) -> RouteView:
    release = core.store.get_release(tool.current_release_id) if tool.current_release_id else None
    serving = release is not None and tool.status != ToolStatus.STOPPED
    return RouteView(
        tool=tool.name,
        release=release.number if release is not None and serving else None,
        hosts=[h.name for h in tool_hosts(core, tool)] if serving else [],
        path=f"/tools/{tool.name}/" if serving else "",
        upstreams=[],
        state="database" if serving else "none",
    )


def _view(record: DomainRecord) -> DomainView:
    return DomainView(
        name=record.name,
        tool=record.tool,
        tls=record.tls,
        created_at=record.created_at,
        created_by=record.created_by,
    )
