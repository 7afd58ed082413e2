"""Steps 6-9 of a deploy: start the new instance beside the old one, gate it on its health
check, promote it (the database, then the ingress), and retire the old one after draining."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from machete_core.context import Core
from machete_core.domain import labels
from machete_core.domain.naming import container_name, network_name
from machete_core.domain.quantities import parse_cpu, parse_memory
from machete_core.domain.records import Endpoint, Image, Revision, RunPlan
from machete_core.domain.spec import ToolSpec
from machete_core.domain.status import ReleaseStatus, ToolStatus
from machete_core.errors import HealthCheckError, MacheteError
from machete_core.manifest.converter import spec_from_data
from machete_core.pipeline.gate import health_gate
from machete_core.pipeline.instances import discard_instance, instance_log_tail, instance_running
from machete_core.pipeline.retention import prune_images
from machete_core.pipeline.volumes import DATA, prepare_mounts, resolve_mounts
from machete_core.plugins.protocols import KnowsImageUsers
from machete_core.routing import publish_tool, upstreams

if TYPE_CHECKING:
    from machete_core.pipeline.run import OperationRun
    from machete_core.state.views import ReleaseRecord, ToolRecord

#: Lines of a failed instance's output kept with its release.
LOG_TAIL_LINES = 50


def start_and_promote(
    run: OperationRun,
    tool: ToolRecord,
    release: ReleaseRecord,
    spec: ToolSpec,
    image: Image,
    mounts: tuple[Any, ...],
    current: ReleaseRecord | None,
    runtime_name: str,
    revision: Revision,
) -> None:
    core = run.core
    runtime = core.runtime(runtime_name)
    env = {**spec.environment, **core.config_environment(tool)}
    env.setdefault("PORT", str(spec.port))
    volumes = spec.volumes
    if "DATA_DIR" not in env and not any(mt.target == "/data" for mt in mounts):
        # The original documented DATA_DIR for tools: a persistent folder of their own.
        env["DATA_DIR"] = "/data"
        volumes = (*volumes, DATA)
        mounts = (*mounts, *resolve_mounts((DATA,), core.settings, tool.name))
    owner = runtime.image_user(image.id) if isinstance(runtime, KnowsImageUsers) else None
    if owner is not None:
        run.log.write(
            f"the image runs as uid {owner[0]}, gid {owner[1]}: its data directories belong "
            "to that user"
        )
    prepare_mounts(volumes, core.settings, tool.name, run.log.write, owner)
    settings = core.settings
    plan = RunPlan(
        tool=tool.name,
        release=release.number,
        name=container_name(settings.installation, tool.name, release.number),
        image=image.id,
        port=spec.port,
        environment=env,
        mounts=mounts,
        labels=labels.for_release(settings.installation, tool.name, release.number),
        memory_bytes=parse_memory(spec.resources.memory or settings.default_memory),
        nano_cpus=parse_cpu(spec.resources.cpu or settings.default_cpu),
        pids_limit=settings.pids_limit,
        read_only_root=spec.permissions.filesystem.read_only,
        cap_add=tuple(settings.allowed_capabilities),
        network=network_name(settings.installation, tool.name),
        # Declared in the manifest: this tool may reach those tools (it joins their networks).
        extra_networks=tuple(
            network_name(settings.installation, other) for other in spec.connects_to
        ),
        replicas=tool.replicas or spec.replicas or 1,
    )
    instance = None
    try:
        with run.step("start"):
            instance = runtime.start(plan)
            core.store.update_release(
                release.id,
                status=ReleaseStatus.STARTING,
                instance_id=instance.id,
                instance_name=instance.name,
            )
            run.log.write(f"started {instance.name} ({instance.id[:12]})")
        with run.step("health"):
            health_gate(run, runtime, instance.id, tool, spec, plan.replicas)
    except (MacheteError, Exception) as exc:
        message = exc.message if isinstance(exc, MacheteError) else str(exc)
        tail = ""
        if instance is not None:
            tail = run.redact(instance_log_tail(runtime, instance.id, LOG_TAIL_LINES))
            if tail:
                run.log.write("--- last lines of the new instance ---")
                for line in tail.splitlines():
                    run.log.write(line)
            discard_instance(runtime, instance.id)
        reason = "health check failed" if isinstance(exc, HealthCheckError) else "start failed"
        fail_release(run, tool, release, current, f"{reason}: {message}", logs_tail=tail)
        raise
    old_upstreams = _upstreams_of(core, current)
    with run.step("promote"):
        # One transaction switches the tool to the new release in the database...
        core.store.promote_release(tool.id, release.id)
        run.publish(
            "release.live",
            release=release.number,
            commit=revision.commit,
        )
    with run.step("route"):
        # ...then the ingress, atomically for the tool. A crash between the two leaves the
        # old release serving; the reconciler publishes what the database says.
        route = publish_tool(core, tool.id)
        if route is not None:
            run.log.write("routed to " + ", ".join(f"{u.host}:{u.port}" for u in route.upstreams))
    if current is not None and current.instance_id and current.instance_id != instance.id:
        with run.step("retire"):
            # Requests already on their way to the old instance finish before it stops.
            drain = (
                spec.drain_seconds
                if spec.drain_seconds is not None
                else core.settings.drain_seconds
            )
            run.log.write(f"draining release {current.number} for at most {drain:g}s")
            core.ingress().drain(tool.name, old_upstreams, drain)
            old_runtime = core.runtime(current.runtime)
            tail = run.redact(instance_log_tail(old_runtime, current.instance_id, LOG_TAIL_LINES))
            old_runtime.stop(current.instance_id)
            old_runtime.remove(current.instance_id)
            core.store.update_release(
                current.id, status=ReleaseStatus.RETIRED, logs_tail=tail or None
            )
            run.log.write(f"retired release {current.number}")
    prune_images(run, tool)


def _upstreams_of(core: Core, release: ReleaseRecord | None) -> tuple[Endpoint, ...]:
    """Where the release answers now (to drain them once it is replaced); none if unknown."""
    if release is None or not release.instance_id:
        return ()
    try:
        return upstreams(core, release, spec_from_data(release.spec).port)
    except MacheteError:
        return ()


def fail_release(
    run: OperationRun,
    tool: ToolRecord,
    release: ReleaseRecord,
    current: ReleaseRecord | None,
    error: str,
    logs_tail: str = "",
) -> None:
    core = run.core
    detail = error + (f"\n--- instance log ---\n{logs_tail}" if logs_tail else "")
    core.store.update_release(
        release.id,
        status=ReleaseStatus.FAILED,
        error=detail,
        logs_tail=logs_tail or None,
        finished_at=time.time(),
    )
    if (
        current is not None
        and current.status == ReleaseStatus.LIVE
        and instance_running(core, current)
    ):
        core.store.update_tool(
            tool.id,
            status=ToolStatus.RUNNING,
            status_reason=f"release {release.number} failed ({error}); release "
            f"{current.number} keeps serving",
        )
    else:
        core.store.update_tool(tool.id, status=ToolStatus.FAILED, status_reason=error)
    run.publish("release.failed", error=error)
