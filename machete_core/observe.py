"""The read side: tool views built from the database and the observed state.

A listing costs three queries and no engine call once the instances are observed
(observed.py); ``get`` of one tool likewise, plus an HTTP probe of the tool when asked for
``probe_health`` (the CLI's ``status``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

from machete_core.context import Core
from machete_core.domain import labels
from machete_core.domain.operations import BUILDING_KINDS, SYSTEM
from machete_core.domain.spec import ToolSpec
from machete_core.domain.status import (
    Health,
    OperationStatus,
    ReleaseStatus,
    ToolStatus,
    crash_loop_reason,
)
from machete_core.errors import MacheteError, NotRunningError, ToolUnavailableError
from machete_core.health import Probe, probe
from machete_core.manifest.converter import spec_from_data
from machete_core.observed import Observation
from machete_core.plugins.protocols import WatchesInstances
from machete_core.routing import nearest_endpoint
from machete_core.secrets import redact
from machete_core.state.views import ReleaseRecord, ToolRecord
from machete_core.views import HealthTarget, Route, ToolCard, ToolView

log = logging.getLogger(__name__)
BUILD_KINDS = tuple(sorted(k.value for k in BUILDING_KINDS))


def list_views(core: Core) -> list[ToolView]:
    tools, current, building = core.store.listing(BUILD_KINDS)
    return [
        tool_view(core, t, current.get(t.id), t.name in building, probe_health=False) for t in tools
    ]


def cards(core: Core, views: list[ToolView]) -> list[ToolCard]:
    """The dashboard's rows for ``views``: two more queries, whatever their number."""
    latest = core.store.latest_operations()
    checked = core.store.last_health_checks()
    return [ToolCard(v, latest.get(v.name), checked.get(v.id)) for v in views]


def one_view(core: Core, tool: ToolRecord, *, probe_health: bool) -> ToolView:
    release = core.store.get_release(tool.current_release_id) if tool.current_release_id else None
    building = any(
        op.status == OperationStatus.RUNNING and op.kind in BUILD_KINDS
        for op in core.store.list_operations(tool.name, limit=5)
    )
    return tool_view(core, tool, release, building, probe_health=probe_health)


def observe(core: Core, tool: str, release: ReleaseRecord, spec: ToolSpec) -> Observation:
    """Ask the runtime about the release's instance now, and remember the answer."""
    assert release.instance_id is not None
    runtime = core.runtime(release.runtime)
    state = runtime.inspect(release.instance_id)
    endpoint = None
    if state.state == "running":
        try:
            endpoint = runtime.endpoint(release.instance_id, spec.port)
        except NotRunningError:
            endpoint = None
    return core.observed.put(tool, state, endpoint)


def refresh_observed(core: Core) -> int:
    """Observe every live instance again (the reconciler and the health monitor call this);
    returns how many were observed."""
    count = 0
    for tool, release in core.store.tools_with_current_release():
        if not release.instance_id:
            continue
        try:
            observe(core, tool.name, release, spec_from_data(release.spec))
        except MacheteError:
            core.observed.forget(release.instance_id)
            continue
        count += 1
    return count


def refresh_instance(core: Core, instance_id: str) -> None:
    """An engine event about ``instance_id``: observe it again if it is a live release's."""
    for tool, release in core.store.tools_with_current_release():
        if release.instance_id == instance_id:
            try:
                observe(core, tool.name, release, spec_from_data(release.spec))
            except MacheteError:
                core.observed.forget(instance_id)
            return
    core.observed.forget(instance_id)


def tool_view(
    core: Core,
    tool: ToolRecord,
    release: ReleaseRecord | None,
    building: bool,
    *,
    probe_health: bool,
) -> ToolView:
    spec = spec_from_data(tool.spec) if tool.spec else ToolSpec()
    status: str
    status, reason, health, url = tool.status, tool.status_reason, None, None
    restarts = 0
    if (
        release is not None
        and release.instance_id
        and (building or status in (ToolStatus.RUNNING, ToolStatus.STOPPED, ToolStatus.FAILED))
    ):
        # While a new release builds, the current one still serves: say where.
        status, reason, health, url, restarts = _observed_status(
            core, tool, release, spec, probe_health
        )
    if building:
        status, reason = ToolStatus.BUILDING, None
    return ToolView(
        id=tool.id,
        name=tool.name,
        status=str(status),
        health=health,
        builder=tool.builder,
        reason=reason,
        source_url=tool.source_url,
        source_ref=tool.source_ref,
        enabled=tool.enabled,
        auto_start=tool.auto_start,
        port=spec.port,
        health_check=spec.health_check,
        description=spec.description,
        version=spec.version,
        category=spec.category,
        release=release.number if release else None,
        commit=release.commit if release else None,
        image=release.image_tag if release else None,
        instance_id=release.instance_id if release else None,
        url=url,
        created_at=tool.created_at,
        updated_at=tool.updated_at,
        runtime=(release.runtime if release else None)
        or spec.runtime
        or tool.runtime
        or core.settings.default_runtime,
        replicas=tool.replicas or spec.replicas or 1,
        restart_count=restarts,
        overrides={k: v for k, v in tool.overrides.items() if v not in (None, {}, "")},
        icon=spec.ui.icon,
        color=spec.ui.color,
        routes=spec.ui.routes,
        access=tool.access,
    )


def _observed_status(
    core: Core, tool: ToolRecord, release: ReleaseRecord, spec: ToolSpec, probe_health: bool
) -> tuple[str, str | None, str | None, str | None, int]:
    assert release.instance_id is not None
    seen = core.observed.get(release.instance_id)
    if seen is None:
        try:
            seen = observe(core, tool.name, release, spec)
        except MacheteError as exc:
            return ToolStatus.UNKNOWN, exc.message, None, None, 0
    state = seen.state
    restarts = state.restart_count
    if state.state == "missing":
        gone = "its container is gone; redeploy to recreate it"
        return ToolStatus.FAILED, gone, None, None, 0
    if tool.status != ToolStatus.STOPPED:
        looping = crash_loop_reason(state.state, restarts, state.started_at, time.time())
        if looping:
            return ToolStatus.CRASH_LOOPING, looping, None, None, restarts
    if state.state != "running":
        if tool.status == ToolStatus.STOPPED:
            return ToolStatus.STOPPED, None, None, None, restarts
        code = f" (exit code {state.exit_code})" if state.exit_code is not None else ""
        why = tool.status_reason or f"the container stopped{code}"
        return ToolStatus.FAILED, why, None, None, restarts
    endpoint = seen.endpoint
    if endpoint is None:
        return ToolStatus.RUNNING, tool.status_reason, None, None, restarts
    health = None
    if probe_health:
        result = probe(endpoint, spec.health_check, timeout=3.0)
        health = Health.HEALTHY if result.healthy else Health.UNHEALTHY
    reason = tool.status_reason if tool.status == ToolStatus.RUNNING else None
    return ToolStatus.RUNNING, reason, health and str(health), endpoint.base_url, restarts


def _current_release(core: Core, tool: ToolRecord) -> ReleaseRecord | None:
    return core.store.get_release(tool.current_release_id) if tool.current_release_id else None


def route(core: Core, ident: str | int) -> Route:
    """Where requests for the tool go now: its live release's endpoint."""
    tool = core.store.get_tool(ident)
    release = _current_release(core, tool)
    if release is None or not release.instance_id or tool.status == ToolStatus.STOPPED:
        raise ToolUnavailableError(f"{tool.name} is not running")
    spec = spec_from_data(release.spec)
    try:
        endpoint = nearest_endpoint(core.runtime(release.runtime), release.instance_id, spec.port)
    except NotRunningError:
        # Its container vanished (or exited): unavailable for now, as documented.
        raise ToolUnavailableError(f"{tool.name} is not running") from None
    return Route(
        tool=tool.name,
        release=release.number,
        endpoint=endpoint,
        strip_prefix=spec.strip_prefix,
        read_timeout=spec.proxy_timeout,
        access=tool.access,
    )


def probe_now(core: Core, ident: str | int) -> Probe:
    """Probe the tool's health endpoint once, now."""
    tool = core.store.get_tool(ident)
    release = _current_release(core, tool)
    if release is None or not release.instance_id:
        return Probe(healthy=False, error="not deployed")
    spec = spec_from_data(release.spec)
    try:
        endpoint = core.runtime(release.runtime).endpoint(release.instance_id, spec.port)
    except MacheteError as exc:
        return Probe(healthy=False, error=exc.message)
    return probe(endpoint, spec.health_check)


def health_targets(core: Core) -> list[HealthTarget]:
    """What the monitor probes: every tool whose live release should be running."""
    targets = []
    for tool, release in core.store.tools_with_current_release(ToolStatus.RUNNING):
        if not release.instance_id:
            continue
        spec = spec_from_data(release.spec)
        try:
            endpoint = core.runtime(release.runtime).endpoint(release.instance_id, spec.port)
        except MacheteError as exc:
            targets.append(HealthTarget(tool.id, tool.name, None, spec.health_check, exc.message))
            continue
        targets.append(HealthTarget(tool.id, tool.name, endpoint.base_url, spec.health_check))
    return targets


def record_health(core: Core, target: HealthTarget, healthy: bool, detail: str | None) -> bool:
    """Keep a probe's result; a change of health is stored and published. True if changed."""
    health = "healthy" if healthy else "unhealthy"
    _count_failures(core, target, healthy, detail)
    last = core.last_health.get(target.tool_id)
    if last is None:
        history = core.store.health_history(target.tool_id, limit=1)
        last = history[0].health if history else None
    core.last_health[target.tool_id] = health
    if last == health:
        return False
    core.store.record_health(target.tool_id, health, detail)
    core.events.publish("tool.health", tool=target.tool, actor=SYSTEM, health=health, detail=detail)
    return True


def _count_failures(core: Core, target: HealthTarget, healthy: bool, detail: str | None) -> None:
    """After N failed checks in a row, ``tool.unhealthy`` (once per streak); the first
    passing check after that, ``tool.recovered``. For people: a single failed probe is not."""
    after = max(1, core.settings.notify_unhealthy_after)
    failures = core.health_failures.get(target.tool_id, 0)
    if healthy:
        core.health_failures.pop(target.tool_id, None)
        if failures >= after:
            core.events.publish("tool.recovered", tool=target.tool, actor=SYSTEM)
        return
    core.health_failures[target.tool_id] = failures + 1
    if failures + 1 == after:
        core.events.publish(
            "tool.unhealthy", tool=target.tool, actor=SYSTEM, failures=after, detail=detail
        )


def tool_logs(
    core: Core, ident: str | int, *, tail: int | None = 100, follow: bool = False
) -> Iterator[str]:
    """The live release's output, secrets redacted."""
    tool = core.store.get_tool(ident)
    release = _current_release(core, tool)
    if release is None or not release.instance_id:
        return iter(_failed_release_lines(core, tool))
    lines = core.runtime(release.runtime).logs(release.instance_id, tail=tail, follow=follow)
    secrets = tuple(sorted(core.config_secrets(tool.id), key=len, reverse=True))
    if not secrets:
        return lines
    # A tool that prints its environment must not show its secrets to whoever reads logs.
    return (redact(line, secrets) for line in lines)


def _failed_release_lines(core: Core, tool: ToolRecord) -> list[str]:
    """A tool with nothing running: the last lines its newest failed instance printed (kept
    with the release when it failed), said to be that, or why there are none."""
    failed = next(
        (r for r in core.store.list_releases(tool.id) if r.status == ReleaseStatus.FAILED), None
    )
    if failed is None:
        reason = f": {tool.status_reason}" if tool.status_reason else ""
        return [f"--- machete: {tool.name} has no instance and printed nothing{reason}"]
    head = (
        f"--- machete: {tool.name} is not running; the last lines of release {failed.number}, "
        f"which failed ({failed.error or 'no reason recorded'}):"
    )
    return [head, *(failed.logs_tail or "").splitlines()]


def keep_observed(core: Core, stop: threading.Event) -> None:
    """Follow the default runtime's event stream (when it has one) until ``stop``, observing
    each instance it names, so views never ask the engine per request."""
    try:
        runtime = core.runtime(core.settings.default_runtime)
    except MacheteError as exc:
        log.warning("no runtime to watch (%s); views will observe on demand", exc.message)
        return
    if not isinstance(runtime, WatchesInstances):
        return
    selector = labels.owned_by(core.settings.installation)
    while not stop.is_set():
        try:
            stream = runtime.watch(selector, stop)
            # Trusted from now on: anything that changes arrives as an event. What changed
            # while the stream was down is caught by observing everything once.
            core.observed.watched = True
            refresh_observed(core)
            for instance_id in stream:
                refresh_instance(core, instance_id)
        except MacheteError as exc:
            log.warning("the engine's event stream broke (%s); retrying", exc.message)
        finally:
            core.observed.watched = False
        stop.wait(1.0)
