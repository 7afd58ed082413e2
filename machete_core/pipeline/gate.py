"""The health gate every changing operation passes: deploy, rollback, start, restart, scale."""

from __future__ import annotations

from typing import TYPE_CHECKING

from machete_core.domain.spec import ToolSpec
from machete_core.health import wait_healthy, wait_replicas_healthy
from machete_core.pipeline.instances import instance_problem
from machete_core.plugins.protocols import ReplicatedRuntime, Runtime
from machete_core.state.views import ToolRecord

if TYPE_CHECKING:
    from machete_core.pipeline.run import OperationRun


def health_gate(
    run: OperationRun,
    runtime: Runtime,
    instance_id: str,
    tool: ToolRecord,
    spec: ToolSpec,
    replicas: int,
) -> None:
    """GET the health path until 200 within the tool's health timeout (failing at once if
    the instance dies); with several replicas on a runtime that lists them, every replica
    must answer 200."""
    core = run.core
    timeout = spec.health_timeout or tool.health_timeout or core.settings.health_timeout
    if replicas > 1 and isinstance(runtime, ReplicatedRuntime):
        replicated = runtime
        wait_replicas_healthy(
            lambda: replicated.endpoints(instance_id, spec.port),
            replicas,
            spec.health_check,
            timeout=timeout,
            interval=core.settings.health_interval,
            cancel=run.cancel,
            still_running=lambda: instance_problem(runtime, instance_id),
        )
        run.log.write(f"healthy: all {replicas} replicas answer GET {spec.health_check}")
        return
    result = wait_healthy(
        lambda: runtime.endpoint(instance_id, spec.port),
        spec.health_check,
        timeout=timeout,
        interval=core.settings.health_interval,
        cancel=run.cancel,
        still_running=lambda: instance_problem(runtime, instance_id),
    )
    run.log.write(f"healthy: GET {spec.health_check} -> {result.status_code}")
