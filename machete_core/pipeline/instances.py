"""Small questions and chores about one instance, shared by the steps of every operation."""

from __future__ import annotations

from machete_core.context import Core
from machete_core.errors import MacheteError
from machete_core.plugins.protocols import Runtime
from machete_core.state.views import ReleaseRecord


def instance_running(core: Core, release: ReleaseRecord) -> bool:
    if not release.instance_id:
        return False
    try:
        return core.runtime(release.runtime).inspect(release.instance_id).state == "running"
    except MacheteError:
        return False


def instance_problem(runtime: Runtime, instance_id: str) -> str | None:
    """Why the instance will not become healthy (it crashed, exited), or None."""
    state = runtime.inspect(instance_id)
    if state.restart_count > 0:
        code = f" (exit code {state.exit_code})" if state.exit_code is not None else ""
        return f"it crashed and was restarted {state.restart_count} time(s){code}"
    if state.state in ("running", "created", "restarting"):
        return None
    code = f" with code {state.exit_code}" if state.exit_code is not None else ""
    return f"{state.state}{code}" + (f": {state.error}" if state.error else "")


def instance_log_tail(runtime: Runtime, instance_id: str, lines: int) -> str:
    try:
        return "\n".join(runtime.logs(instance_id, tail=lines))
    except MacheteError:
        return ""


def discard_instance(runtime: Runtime, instance_id: str) -> None:
    try:
        runtime.stop(instance_id, timeout=5)
    finally:
        runtime.remove(instance_id)
