"""The lifecycle verbs on an installed tool: start, stop, restart, remove."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING, Any

from machete_core.domain import labels
from machete_core.domain.spec import ToolSpec
from machete_core.domain.status import ReleaseStatus, ToolStatus
from machete_core.errors import HealthCheckError, InvalidInputError, NotRunningError
from machete_core.pipeline.gate import health_gate
from machete_core.pipeline.volumes import legacy_root
from machete_core.state.views import ReleaseRecord, ToolRecord

if TYPE_CHECKING:
    from machete_core.pipeline.run import OperationRun


def _current(run: OperationRun) -> tuple[ToolRecord, ReleaseRecord]:
    assert run.tool_id is not None
    tool = run.m.store.get_tool(run.tool_id)
    release = run.m.store.get_release(tool.current_release_id) if tool.current_release_id else None
    if release is None or not release.instance_id:
        raise NotRunningError(
            f"{tool.name} has no deployed release yet: deploy it first (machete deploy {tool.name})"
        )
    return tool, release


def run_stop(run: OperationRun) -> dict[str, Any]:
    tool, release = _current(run)
    with run.step("stop"):
        assert release.instance_id is not None
        run.m.runtime(release.runtime).stop(release.instance_id)
        run.m.store.update_tool(tool.id, status=ToolStatus.STOPPED, status_reason=None)
    run.m.events.publish("tool.stopped", tool=tool.name, operation_id=run.op.id)
    return {"tool": tool.name}


def run_start(run: OperationRun) -> dict[str, Any]:
    tool, release = _current(run)
    m = run.m
    runtime = m.runtime(release.runtime)
    spec = m.spec_from_data(release.spec)
    assert release.instance_id is not None
    inst_id = release.instance_id
    with run.step("start"):
        state = runtime.inspect(inst_id)
        if state.state == "missing":
            raise NotRunningError(
                f"the instance of {tool.name} no longer exists: "
                f"redeploy it (machete deploy {tool.name})"
            )
        runtime.resume(inst_id)
    _gate(run, tool, spec, inst_id, release)
    m.events.publish("tool.started", tool=tool.name, operation_id=run.op.id)
    return {"tool": tool.name}


def run_restart(run: OperationRun) -> dict[str, Any]:
    tool, release = _current(run)
    m = run.m
    runtime = m.runtime(release.runtime)
    assert release.instance_id is not None
    inst_id = release.instance_id
    with run.step("stop"):
        runtime.stop(inst_id)
    with run.step("start"):
        runtime.resume(inst_id)
    _gate(run, tool, m.spec_from_data(release.spec), inst_id, release)
    m.events.publish("tool.restarted", tool=tool.name, operation_id=run.op.id)
    return {"tool": tool.name}


def run_scale(run: OperationRun) -> dict[str, Any]:
    """Change how many replicas the tool runs: the runtime's rolling update, then the gate
    on every replica. A runtime that runs one instance per release refuses."""
    tool, release = _current(run)
    m = run.m
    replicas = int(run.op.params["replicas"])
    runtime = m.runtime(release.runtime)
    scale = getattr(runtime, "scale", None)
    if scale is None or getattr(runtime, "endpoints", None) is None:
        raise InvalidInputError(
            f"the {release.runtime} runtime runs one instance per release and cannot scale: "
            "deploy the tool with the swarm runtime (machete.runtime: swarm)"
        )
    assert release.instance_id is not None
    inst_id = release.instance_id
    spec = m.spec_from_data(release.spec)
    with run.step("scale"):
        run.log.write(f"scaling {tool.name} to {replicas} replica(s)")
        scale(inst_id, replicas)
    with run.step("health"):
        try:
            health_gate(run, runtime, inst_id, tool, spec, replicas)
        except HealthCheckError as exc:
            # Swarm rolls back replicas that crash; one that runs but fails the tool's health
            # check is this gate's to undo: back to the previous spec, as if never scaled.
            rollback = getattr(runtime, "rollback", None)
            if rollback is not None and rollback(inst_id):
                run.log.write(f"scaling failed ({exc.message}); rolled back")
            raise
    m.store.update_tool(tool.id, replicas=replicas)
    m.events.publish("tool.scaled", tool=tool.name, operation_id=run.op.id, replicas=replicas)
    return {"tool": tool.name, "replicas": replicas}


def _gate(
    run: OperationRun, tool: ToolRecord, spec: ToolSpec, inst_id: str, release: ReleaseRecord
) -> None:
    m = run.m
    runtime = m.runtime(release.runtime)
    with run.step("health"):
        try:
            health_gate(run, runtime, inst_id, tool, spec, tool.replicas or spec.replicas or 1)
        except HealthCheckError as exc:
            m.store.update_tool(tool.id, status=ToolStatus.FAILED, status_reason=exc.message)
            raise
        m.store.update_tool(tool.id, status=ToolStatus.RUNNING, status_reason=None)


def run_remove(run: OperationRun) -> dict[str, Any]:
    """Remove instances and images MACHETE made for the tool; keep data unless ``purge``."""
    m = run.m
    assert run.tool_id is not None
    tool = m.store.get_tool(run.tool_id)
    purge = bool(run.op.params.get("purge"))
    releases = m.store.list_releases(tool.id)
    with run.step("remove-instances"):
        runtimes = {r.runtime for r in releases} | {m.settings.default_runtime}
        for name in sorted(runtimes):
            runtime = m.runtime(name)
            selector = labels.owned_by(m.settings.installation, tool.name)
            for state in runtime.list(selector):
                runtime.stop(state.id, timeout=5)
                runtime.remove(state.id)
                run.log.write(f"removed instance {state.name}")
            runtime.cleanup(selector)
    with run.step("remove-images"):
        for release in releases:
            if release.image_tag or release.image_id:
                # By id: every tag goes with it (a runtime may have tagged it for a registry).
                m.builder(release.builder).remove_image(release.image_id or release.image_tag or "")
                if release.status != ReleaseStatus.FAILED:
                    run.log.write(f"removed image of release {release.number}")
    if purge:
        with run.step("purge-data"):
            # rmtree never follows links (it works on directory descriptors here).
            shutil.rmtree(m.tool_data_dir(tool.name), ignore_errors=True)
            shutil.rmtree(legacy_root(m.settings, tool.name), ignore_errors=True)
            run.log.write("deleted the tool's data directory")
    m.store.delete_tool(tool.id)
    m.events.publish("tool.removed", tool=tool.name, operation_id=run.op.id, purge=purge)
    return {"tool": tool.name, "purged": purge}
