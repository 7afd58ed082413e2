"""The health gate every changing operation passes: deploy, rollback, start, restart, scale."""

from __future__ import annotations

from typing import TYPE_CHECKING

from machete_core.domain.spec import ToolSpec
from machete_core.health import FailFast, describe, wait_healthy, wait_replicas_healthy
from machete_core.pipeline.instances import instance_problem
from machete_core.plugins.protocols import ReplicatedRuntime, ReportsListeningPorts, Runtime
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
    """Probe the tool until healthy within its health timeout (failing at once when the
    outcome cannot change: the instance died, the path keeps answering 404, the port is
    refused while the tool listens on another); with several replicas on a runtime that
    lists them, every replica must be healthy."""
    core = run.core
    timeout = spec.health_timeout or tool.health_timeout or core.settings.health_timeout
    what = describe(spec.health_check)
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
        run.log.write(f"healthy: all {replicas} replicas give {what}")
        return
    listening = None
    if isinstance(runtime, ReportsListeningPorts):
        reporter = runtime
        listening = lambda: reporter.listening_ports(instance_id)  # noqa: E731
    result = wait_healthy(
        lambda: runtime.endpoint(instance_id, spec.port),
        spec.health_check,
        timeout=timeout,
        interval=core.settings.health_interval,
        cancel=run.cancel,
        still_running=lambda: instance_problem(runtime, instance_id),
        fail_fast=FailFast(
            listening=listening, not_found_grace=core.settings.health_not_found_grace
        ),
        port=spec.port,
        probe_timeout=spec.health_probe_timeout or 5.0,
    )
    run.log.write(f"healthy: {what} -> HTTP {result.status_code}")
