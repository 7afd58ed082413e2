"""The lifecycle verbs on an installed tool: start, stop, restart, remove."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from machete_core.domain import labels
from machete_core.domain.operations import RemoveParams, ScaleParams
from machete_core.domain.spec import ToolSpec
from machete_core.domain.status import ReleaseStatus, ToolStatus
from machete_core.errors import HealthCheckError, InvalidInputError, NotRunningError
from machete_core.manifest.converter import spec_from_data
from machete_core.pipeline.gate import health_gate
from machete_core.pipeline.volumes import legacy_root, volumes_root
from machete_core.plugins.protocols import ReplicatedRuntime
from machete_core.routing import publish_stopped, publish_tool, withdraw_tool
from machete_core.state.views import ReleaseRecord, ToolRecord

if TYPE_CHECKING:
    from machete_core.pipeline.run import OperationRun


def _current(run: OperationRun) -> tuple[ToolRecord, ReleaseRecord]:
    assert run.tool_id is not None
    tool = run.core.store.get_tool(run.tool_id)
    release = (
        run.core.store.get_release(tool.current_release_id) if tool.current_release_id else None
    )
    if release is None or not release.instance_id:
        raise NotRunningError(
            f"{tool.name} has no deployed release yet: deploy it first (machete deploy {tool.name})"
        )
    return tool, release


def run_stop(run: OperationRun) -> None:
    tool, release = _current(run)
    with run.step("stop"):
        assert release.instance_id is not None
        # The ingress answers 503 before the instance stops answering.
        publish_stopped(run.core, tool)
        run.core.runtime(release.runtime).stop(release.instance_id)
        run.core.store.update_tool(tool.id, status=ToolStatus.STOPPED, status_reason=None)
    run.publish("tool.stopped")


def run_start(run: OperationRun) -> None:
    tool, release = _current(run)
    core = run.core
    runtime = core.runtime(release.runtime)
    spec = spec_from_data(release.spec)
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
    _publish_route(run, tool)
    run.publish("tool.started")


def run_restart(run: OperationRun) -> None:
    tool, release = _current(run)
    core = run.core
    runtime = core.runtime(release.runtime)
    assert release.instance_id is not None
    inst_id = release.instance_id
    with run.step("stop"):
        runtime.stop(inst_id)
    with run.step("start"):
        runtime.resume(inst_id)
    _gate(run, tool, spec_from_data(release.spec), inst_id, release)
    _publish_route(run, tool)
    run.publish("tool.restarted")


def run_scale(run: OperationRun) -> None:
    """Change how many replicas the tool runs: the runtime's rolling update, then the gate
    on every replica. A runtime that runs one instance per release refuses."""
    tool, release = _current(run)
    core = run.core
    replicas = run.params(ScaleParams).replicas
    runtime = core.runtime(release.runtime)
    if not isinstance(runtime, ReplicatedRuntime):
        raise InvalidInputError(
            f"the {release.runtime} runtime runs one instance per release and cannot scale: "
            "deploy the tool with the swarm runtime (machete.runtime: swarm)"
        )
    assert release.instance_id is not None
    inst_id = release.instance_id
    spec = spec_from_data(release.spec)
    with run.step("scale"):
        run.log.write(f"scaling {tool.name} to {replicas} replica(s)")
        runtime.scale(inst_id, replicas)
    with run.step("health"):
        try:
            health_gate(run, runtime, inst_id, tool, spec, replicas)
        except HealthCheckError as exc:
            # Swarm rolls back replicas that crash; one that runs but fails the tool's health
            # check is this gate's to undo: back to the previous spec, as if never scaled.
            if runtime.rollback(inst_id):
                run.log.write(f"scaling failed ({exc.message}); rolled back")
            raise
    core.store.update_tool(tool.id, replicas=replicas)
    _publish_route(run, tool)
    run.publish("tool.scaled", replicas=replicas)


def _publish_route(run: OperationRun, tool: ToolRecord) -> None:
    """The ingress serves the instance where it answers now (a restarted container may
    have been given another port; a scaled service has other replicas)."""
    with run.step("route"):
        publish_tool(run.core, tool.id)


def _gate(
    run: OperationRun, tool: ToolRecord, spec: ToolSpec, inst_id: str, release: ReleaseRecord
) -> None:
    core = run.core
    runtime = core.runtime(release.runtime)
    with run.step("health"):
        try:
            health_gate(run, runtime, inst_id, tool, spec, tool.replicas or spec.replicas or 1)
        except HealthCheckError as exc:
            core.store.update_tool(tool.id, status=ToolStatus.FAILED, status_reason=exc.message)
            raise
        core.store.update_tool(tool.id, status=ToolStatus.RUNNING, status_reason=None)


def run_remove(run: OperationRun) -> None:
    """Remove instances and images MACHETE made for the tool; keep data unless ``purge``."""
    core = run.core
    assert run.tool_id is not None
    tool = core.store.get_tool(run.tool_id)
    purge = run.params(RemoveParams).purge
    releases = core.store.list_releases(tool.id)
    with run.step("route"):
        withdraw_tool(core, tool.name)
    with run.step("remove-instances"):
        runtimes = {r.runtime for r in releases} | {core.settings.default_runtime}
        for name in sorted(runtimes):
            runtime = core.runtime(name)
            selector = labels.owned_by(core.settings.installation, tool.name)
            for state in runtime.list(selector):
                runtime.stop(state.id, timeout=5)
                runtime.remove(state.id)
                run.log.write(f"removed instance {state.name}")
            runtime.cleanup(selector)
    with run.step("remove-images"):
        for release in releases:
            if release.image_tag or release.image_id:
                # By id: every tag goes with it (a runtime may have tagged it for a registry).
                core.builder(release.builder).remove_image(
                    release.image_id or release.image_tag or ""
                )
                if release.status != ReleaseStatus.FAILED:
                    run.log.write(f"removed image of release {release.number}")
    if purge:
        with run.step("purge-data"):
            # rmtree never follows links (it works on directory descriptors here).
            shutil.rmtree(volumes_root(core.settings, tool.name), ignore_errors=True)
            shutil.rmtree(legacy_root(core.settings, tool.name), ignore_errors=True)
            run.log.write("deleted the tool's data directory")
    core.store.delete_tool(tool.id)
    run.publish("tool.removed", purge=purge)
