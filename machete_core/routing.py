"""Routes as desired state: computed from the database (a tool's live release, its domains,
its access mode) and the runtime (the release's upstreams), published to the installation's
ingress by the pipeline, and compared with what the ingress serves by the reconciler.

Nothing here is kept apart from the database: after a crash between a promotion and the
publication of its route, the database already names the new release, so the reconciler's
next round publishes it (the old release, not yet retired, serves until then).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

from machete_core.domain.records import Endpoint
from machete_core.domain.routes import RouteHost, RouteSet
from machete_core.domain.status import ToolStatus
from machete_core.errors import MacheteError, NotRunningError
from machete_core.manifest.converter import spec_from_data
from machete_core.plugins.protocols import (
    AddressesOnNetwork,
    ReplicatedRuntime,
    Runtime,
    ServesFromState,
)
from machete_core.private_files import write_private

if TYPE_CHECKING:
    from machete_core.context import Core
    from machete_core.settings import Settings
    from machete_core.state.views import ReleaseRecord, ToolRecord


def upstreams(core: Core, release: ReleaseRecord, port: int) -> tuple[Endpoint, ...]:
    """Every address the release answers on: each replica of a replicated runtime."""
    assert release.instance_id is not None
    runtime = core.runtime(release.runtime)
    if isinstance(runtime, ReplicatedRuntime):
        found = tuple(runtime.endpoints(release.instance_id, port))
        if not found:
            raise NotRunningError(f"release {release.number} has no running replica")
        return found
    return (nearest_endpoint(runtime, release.instance_id, port),)


def nearest_endpoint(runtime: Runtime, instance_id: str, port: int) -> Endpoint:
    """Where this host reaches the instance with the fewest hops: on its network where the
    runtime can say (no port proxy of the engine between), else its published port."""
    if isinstance(runtime, AddressesOnNetwork):
        direct = runtime.network_endpoint(instance_id, port)
        if direct is not None:
            return direct
    return runtime.endpoint(instance_id, port)


def tool_hosts(core: Core, tool: ToolRecord) -> tuple[RouteHost, ...]:
    settings = core.settings
    hosts = []
    if settings.tools_domain:
        domain = settings.tools_domain.strip(".").lower()
        hosts.append(RouteHost(f"{tool.name}.{domain}", settings.tools_domain_tls))
    hosts.extend(RouteHost(d.name, d.tls) for d in core.store.domains(tool.id))
    return tuple(hosts)


def desired_route(core: Core, tool: ToolRecord, *, serving: bool = True) -> RouteSet:
    """What the ingress should serve for ``tool`` now. A tool that is not running (stopped,
    never deployed) has a route with no upstream: the ingress answers 503 for it, as for a
    known tool, instead of 404. Raises :class:`NotRunningError` when a running tool's
    upstreams cannot be told now (the caller leaves what is published alone). ``serving``
    False: the route as if the tool were stopped (no engine is asked)."""
    release = core.store.get_release(tool.current_release_id) if tool.current_release_id else None
    spec = spec_from_data(release.spec) if release is not None else None
    found: tuple[Endpoint, ...] = ()
    if (
        serving
        and release is not None
        and spec is not None
        and release.instance_id
        and tool.status != ToolStatus.STOPPED
    ):
        found = upstreams(core, release, spec.port)
    return RouteSet(
        tool=tool.name,
        release=release.number if release is not None else 0,
        upstreams=found,
        hosts=tool_hosts(core, tool),
        path_prefix=f"/tools/{tool.name}",
        strip_prefix=spec.strip_prefix if spec is not None else True,
        read_timeout=spec.proxy_timeout if spec is not None else None,
        access=tool.access,
    )


def publish_tool(core: Core, ident: str | int) -> RouteSet | None:
    """Make the ingress serve what the database says for one tool."""
    ingress = core.ingress()
    if isinstance(ingress, ServesFromState):
        return None  # it reads the database itself (no engine call for nothing)
    route = desired_route(core, core.store.get_tool(ident))
    ingress.publish(route)
    return route


def publish_stopped(core: Core, tool: ToolRecord) -> None:
    """The tool's route with no upstream (503), before its instance stops."""
    ingress = core.ingress()
    if not isinstance(ingress, ServesFromState):
        ingress.publish(desired_route(core, tool, serving=False))


def withdraw_tool(core: Core, name: str) -> None:
    ingress = core.ingress()
    if not isinstance(ingress, ServesFromState):
        ingress.withdraw(name)


#: The key of :attr:`RoutesReport.failed` when the ingress itself failed.
EVERY_TOOL = "*"


@attrs.define
class RoutesReport:
    published: list[str] = attrs.Factory(list)
    withdrawn: list[str] = attrs.Factory(list)
    #: Tools whose routes could not be published, with why (their instances are kept).
    failed: dict[str, str] = attrs.Factory(dict)


def reconcile_routes(
    core: Core, busy: set[str], is_busy: Callable[[str], bool] | None = None
) -> RoutesReport:
    """Publish every route that differs from the database and withdraw the routes no tool
    has. Tools with an operation running (``busy``, or ``is_busy(name)`` asked right before
    a change) are left to their operation, which publishes its own route."""
    report = RoutesReport()
    ingress = core.ingress()
    if isinstance(ingress, ServesFromState):
        return report
    # An ingress that does not serve (or answer) cannot be compared with: ``*`` says so,
    # and the reconciler then removes no instance (one may still be serving through it).
    problem = ingress.health()
    if problem is not None:
        report.failed[EVERY_TOOL] = problem
        return report
    try:
        published = {p.tool: p for p in ingress.published()}
    except MacheteError as exc:
        report.failed[EVERY_TOOL] = exc.message
        return report
    for tool in core.store.list_tools():
        have = published.pop(tool.name, None)
        if tool.name in busy:
            continue
        try:
            want = desired_route(core, tool)
        except NotRunningError:
            continue  # its instance is between states: the next round looks again
        except MacheteError as exc:
            report.failed[tool.name] = exc.message
            continue
        if have is not None and want.digest == have.digest:
            continue
        if is_busy is not None and is_busy(tool.name):
            continue
        try:
            ingress.publish(want)
            report.published.append(tool.name)
        except MacheteError as exc:
            report.failed[tool.name] = exc.message
    for name in sorted(published):
        # Routes of ours that no tool has (removed while the ingress was away).
        try:
            ingress.withdraw(name)
            report.withdrawn.append(name)
        except MacheteError as exc:
            report.failed[name] = exc.message
    return report


def ingress_secret(settings: Settings) -> str:
    """The secret the ingress sends with each of its questions to the server (``forward_auth``),
    made once per installation; only this user can read it."""
    path = settings.home / "ingress.secret"
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    partial = write_private(
        path.with_name(f".{path.name}.{os.getpid()}.partial"), secrets.token_urlsafe(32)
    )
    try:
        # A link appears whole or not at all: of two processes making it at once, one wins
        # and both read its secret.
        os.link(partial, path)
    except FileExistsError:
        pass
    finally:
        partial.unlink(missing_ok=True)
    return path.read_text(encoding="utf-8").strip()
