"""Operations as typed records: actors on operations and events, the step events a deploy
emits (what the CLI's progress and the dashboard read), params stored through the one
converter, strict store updates and statuses read as enums."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from machete_core.domain.operations import (
    LOCAL_CLI,
    STEPS,
    SYSTEM,
    Actor,
    ActorKind,
    OperationKind,
    ScaleParams,
    StepProgress,
    StepState,
)
from machete_core.domain.status import OperationStatus, ReleaseStatus, ToolStatus
from machete_core.errors import InvalidInputError
from machete_core.machete import Machete, create_machete
from machete_core.settings import Settings
from machete_core.state.base import UnknownFieldError
from machete_core.state.db import make_engine
from machete_plugins import BUILTIN_PLUGINS
from tests.support.inprocess import InprocPlugin

ALICE = Actor(ActorKind.USER, "u-1", "Alice")


@pytest.fixture
def machete(tmp_path: Path) -> Iterator[Machete]:
    m = create_machete(Settings(home=tmp_path / "home"), builtins=BUILTIN_PLUGINS)
    m.plugins.register(InprocPlugin(), "inproc")
    yield m
    m.close()


def _install(m: Machete, actor: Actor = LOCAL_CLI, **kw: object) -> str:
    op = m.submit_install("https://example.test/t.git", source="inline", name="t", actor=actor)
    m.run(op.id, **kw)  # type: ignore[arg-type]
    return op.id


def test_a_deploy_reports_its_declared_steps_to_listeners_and_as_events(machete: Machete) -> None:
    seen: list[StepProgress] = []
    op_id = _install(machete, on_step=seen.append)
    declared = STEPS[OperationKind.INSTALL]
    started = [p.step for p in seen if p.state == StepState.STARTED]
    assert started == list(declared)
    assert [p.step for p in seen if p.state == StepState.DONE] == list(declared)
    assert [p.index for p in seen if p.state == StepState.STARTED] == list(
        range(1, len(declared) + 1)
    )
    assert {p.total for p in seen} == {len(declared)}
    assert all(p.seconds is not None for p in seen if p.state == StepState.DONE)
    # The same, structured, in the event log any host follows.
    events = [e for e in machete.store.recent_events(200) if e.operation_id == op_id]
    steps = [
        (e.kind, e.data["step"], e.data["index"]) for e in events if e.kind.startswith("step.")
    ]
    assert steps[:2] == [("step.started", "fetch", 1), ("step.finished", "fetch", 1)]
    assert len(steps) == 2 * len(declared)
    assert machete.get("t", probe_health=False).status == ToolStatus.RUNNING


def test_a_no_op_deploy_skips_steps_but_never_counts_past_its_total(machete: Machete) -> None:
    _install(machete)
    seen: list[StepProgress] = []
    machete.deploy("t", on_step=seen.append)
    assert seen and all(1 <= p.index <= p.total == 9 for p in seen)


def test_a_failed_step_is_reported_as_failed(machete: Machete) -> None:
    _install(machete)
    seen: list[StepProgress] = []
    with pytest.raises(InvalidInputError):
        machete.rollback("t", release=99, on_step=seen.append)
    assert (seen[-1].step, seen[-1].state) == ("choose", StepState.FAILED)
    assert seen[-1].detail and "no release 99" in seen[-1].detail


def test_operations_and_their_events_name_the_actor(machete: Machete) -> None:
    op_id = _install(machete, actor=ALICE)
    assert machete.operation(op_id).actor == ALICE
    events = [e for e in machete.store.recent_events(200) if e.operation_id == op_id]
    assert events and {e.actor for e in events} == {ALICE}
    assert machete.releases("t")[0].trigger == "user:Alice"
    # Python callers are the local Python actor unless they say otherwise.
    op = machete.stop("t")
    assert op.actor.kind == ActorKind.LOCAL and op.actor.id == "python"
    # What MACHETE does on its own is the system's.
    change = machete.change_config("t", {"A": "1"}, actor=SYSTEM)
    assert change is not None and change.actor == SYSTEM


def test_params_are_stored_as_the_record_of_the_kind(machete: Machete) -> None:
    _install(machete)
    op = machete.submit("scale", "t", replicas=2)
    assert op.kind == OperationKind.SCALE and op.typed_params == ScaleParams(replicas=2)
    assert machete.operation(op.id).params == {"replicas": 2}
    machete.cancel(op.id)
    with pytest.raises(TypeError):
        machete.submit("stop", "t", purge=True)


def test_store_updates_reject_unknown_fields(machete: Machete) -> None:
    _install(machete)
    tool = machete.store.get_tool("t")
    with pytest.raises(UnknownFieldError, match="stauts"):
        machete.store.update_tool(tool.id, stauts="running")
    release = machete.store.list_releases(tool.id)[0]
    with pytest.raises(UnknownFieldError):
        machete.store.update_release(release.id, instanceid="x")
    op = machete.operations("t")[0]
    with pytest.raises(UnknownFieldError):
        machete.store.update_operation(op.id, finished=1.0)
    with pytest.raises(UnknownFieldError):
        machete.store.finish_operation(op.id, machete.holder_id, verdict="ok")


def test_statuses_are_read_as_enums(machete: Machete) -> None:
    _install(machete)
    tool = machete.store.get_tool("t")
    assert type(tool.status) is ToolStatus
    assert type(machete.releases("t")[0].status) is ReleaseStatus
    op = machete.operations("t")[0]
    assert type(op.status) is OperationStatus and type(op.kind) is OperationKind


def test_older_operations_get_actors_from_their_trigger(tmp_path: Path) -> None:
    """Migration 0009: ``cli``/``python`` triggers were local, anything else the API."""
    from alembic import command
    from alembic.config import Config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    cfg = Config()
    cfg.set_main_option(
        "script_location", str(Path(__file__).parents[2] / "machete_core/state/migrations")
    )
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0008")
        for op_id, trigger in (("a", "cli"), ("b", "python"), ("c", "api")):
            conn.execute(
                sa.text(
                    "INSERT INTO operations (id, kind, status, params_json, log_path, trigger, "
                    "created_at) VALUES (:id, 'deploy', 'succeeded', '{}', '/dev/null', :t, 0)"
                ),
                {"id": op_id, "t": trigger},
            )
    engine.dispose()
    with create_machete(Settings(home=tmp_path, database_url=url)) as m:
        actors = {op_id: m.operation(op_id).actor for op_id in "abc"}
    assert actors["a"] == Actor(ActorKind.LOCAL, "cli", "machete CLI")
    assert actors["b"] == Actor(ActorKind.LOCAL, "python", "Python API")
    assert actors["c"] == Actor(ActorKind.SYSTEM, "api", "HTTP API")
