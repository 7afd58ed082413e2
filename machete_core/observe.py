"""The read side: tool views built from the database and the observed state.

A listing costs three queries and no engine call once the instances are observed
(observed.py); ``get`` of one tool likewise, plus an HTTP probe of the tool when asked for
``probe_health`` (the CLI's ``status``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from machete_core.domain.spec import ToolSpec
from machete_core.domain.status import Health, OperationStatus, ToolStatus, crash_loop_reason
from machete_core.errors import MacheteError, NotRunningError
from machete_core.health import probe
from machete_core.observed import Observation
from machete_core.state.views import ReleaseRecord, ToolRecord
from machete_core.views import ToolView

if TYPE_CHECKING:
    from machete_core.machete import Machete

BUILD_KINDS = ("install", "deploy", "build")


def list_views(m: Machete) -> list[ToolView]:
    tools, current, building = m.store.listing(BUILD_KINDS)
    return [
        tool_view(m, t, current.get(t.id), t.name in building, probe_health=False) for t in tools
    ]


def one_view(m: Machete, tool: ToolRecord, *, probe_health: bool) -> ToolView:
    release = m.store.get_release(tool.current_release_id) if tool.current_release_id else None
    building = any(
        op.status == OperationStatus.RUNNING and op.kind in BUILD_KINDS
        for op in m.store.list_operations(tool.name, limit=5)
    )
    return tool_view(m, tool, release, building, probe_health=probe_health)


def observe(m: Machete, tool: str, release: ReleaseRecord, spec: ToolSpec) -> Observation:
    """Ask the runtime about the release's instance now, and remember the answer."""
    assert release.instance_id is not None
    runtime = m.runtime(release.runtime)
    state = runtime.inspect(release.instance_id)
    endpoint = None
    if state.state == "running":
        try:
            endpoint = runtime.endpoint(release.instance_id, spec.port)
        except NotRunningError:
            endpoint = None
    return m.observed.put(tool, state, endpoint)


def refresh_observed(m: Machete) -> int:
    """Observe every live instance again (the reconciler and the health monitor call this);
    returns how many were observed."""
    count = 0
    for tool, release in m.store.tools_with_current_release():
        if not release.instance_id:
            continue
        try:
            observe(m, tool.name, release, m.spec_from_data(release.spec))
        except MacheteError:
            m.observed.forget(release.instance_id)
            continue
        count += 1
    return count


def refresh_instance(m: Machete, instance_id: str) -> None:
    """An engine event about ``instance_id``: observe it again if it is a live release's."""
    for tool, release in m.store.tools_with_current_release():
        if release.instance_id == instance_id:
            try:
                observe(m, tool.name, release, m.spec_from_data(release.spec))
            except MacheteError:
                m.observed.forget(instance_id)
            return
    m.observed.forget(instance_id)


def tool_view(
    m: Machete,
    tool: ToolRecord,
    release: ReleaseRecord | None,
    building: bool,
    *,
    probe_health: bool,
) -> ToolView:
    spec = m.spec_from_data(tool.spec) if tool.spec else ToolSpec()
    status, reason, health, url = tool.status, tool.status_reason, None, None
    restarts = 0
    if (
        release is not None
        and release.instance_id
        and (building or status in (ToolStatus.RUNNING, ToolStatus.STOPPED, ToolStatus.FAILED))
    ):
        # While a new release builds, the current one still serves: say where.
        status, reason, health, url, restarts = _observed_status(
            m, tool, release, spec, probe_health
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
        or m.settings.default_runtime,
        replicas=tool.replicas or spec.replicas or 1,
        restart_count=restarts,
    )


def _observed_status(
    m: Machete, tool: ToolRecord, release: ReleaseRecord, spec: ToolSpec, probe_health: bool
) -> tuple[str, str | None, str | None, str | None, int]:
    assert release.instance_id is not None
    seen = m.observed.get(release.instance_id)
    if seen is None:
        try:
            seen = observe(m, tool.name, release, spec)
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
