from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from machete_core.domain.operations import SYSTEM
from machete_core.state.db import make_engine, migrate
from machete_core.state.models import Base
from machete_core.state.store import Store

ROOT = Path(__file__).resolve().parents[2]


def test_migrations_create_exactly_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    migrate(engine)  # idempotent on an up-to-date database
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    engine.dispose()


def test_head_revision_constant_matches_the_migrations() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    import machete_core.state.db as db

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(db.__file__).parent / "migrations"))
    assert ScriptDirectory.from_config(cfg).get_current_head() == db.HEAD_REVISION


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'm.db'}")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    store.close()


def test_tools_by_name_and_id(database_url: str) -> None:
    store = Store.open(database_url)
    tool = store.create_tool(name="t", source_kind="git", source_url="https://x/t.git")
    assert store.get_tool("t").id == tool.id
    assert store.get_tool(str(tool.id)).name == "t"
    assert store.get_tool(tool.id).name == "t"
    assert store.find_tool("nope") is None


def test_release_numbers_count_per_tool(database_url: str) -> None:
    store = Store.open(database_url)
    a = store.create_tool(name="a", source_kind="git", source_url="u")
    b = store.create_tool(name="b", source_kind="git", source_url="u")
    nums = [
        store.create_release(t.id, key="k", builder="d", runtime="d", status="built").number
        for t in (a, a, b, a)
    ]
    assert nums == [1, 2, 1, 3]


def test_concurrent_writer_processes_wait_instead_of_failing(database_url: str) -> None:
    url = database_url
    store = Store.open(url)
    store.create_tool(name="shared", source_kind="git", source_url="https://x/s.git")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.support.store_worker", url, str(i), "15"],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    results = [(p.wait(timeout=240), p.stderr.read() if p.stderr else "") for p in procs]
    assert [code for code, _ in results] == [0] * 8, [err for _, err in results if err]
    tool = store.get_tool("shared")
    assert len(store.list_releases(tool.id)) == 8 * 15
    assert len(store.list_operations("shared", limit=1000)) == 8 * 15
    store.close()


def test_one_mutating_operation_per_tool_even_when_racing(database_url: str) -> None:
    import threading

    from machete_core.errors import ToolBusyError

    url = database_url
    store = Store.open(url)
    tool = store.create_tool(name="t", source_kind="git", source_url="https://x/t.git")
    stores = [Store.open(url) for _ in range(8)]
    start = threading.Barrier(8)
    won: list[str] = []
    busy: list[str] = []

    def contend(i: int) -> None:
        start.wait()
        try:
            stores[i].create_operation(
                actor=SYSTEM,
                exclusive_kinds=("deploy",),
                id=f"op{i}",
                kind="deploy",
                tool_id=tool.id,
                tool_name="t",
                log_path="/dev/null",
            )
            won.append(f"op{i}")
        except ToolBusyError:
            busy.append(f"op{i}")

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(won) == 1 and len(busy) == 7


def test_named_locks_exclude_renew_and_expire(database_url: str) -> None:
    import time

    store = Store.open(database_url)
    assert store.try_lock("job", "a", 60)
    assert not store.try_lock("job", "b", 60)  # held by a
    assert store.try_lock("job", "a", 60)  # a renews
    store.unlock("job", "b")  # not b's to release
    assert not store.try_lock("job", "b", 60)
    store.unlock("job", "a")
    assert store.try_lock("job", "b", 0.05)
    time.sleep(0.1)
    assert store.try_lock("job", "a", 60)  # b's ran out
    store.close()


def test_a_reconciler_round_is_skipped_while_another_runs(
    database_url: str, tmp_path: Path
) -> None:
    from machete_core.machete import create_machete
    from machete_core.settings import Settings

    settings = Settings(home=tmp_path / "home", database_url=database_url)
    with create_machete(settings) as m:
        m.store.try_lock("reconciler", "another-server:1:x", 60)
        assert m.reconcile().skipped
        m.store.unlock("reconciler", "another-server:1:x")
        assert not m.reconcile().skipped


def test_a_lock_of_a_dead_process_is_taken_over_at_once(tmp_path: Path) -> None:
    from machete_core.leases import holder_process_gone

    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    try:
        dead = f"{socket.gethostname()}:999999:abcd"  # no such process
        assert store.try_lock("reconciler", dead, 300)
        assert not store.try_lock("reconciler", "me", 300)  # without the check: 5 minutes
        assert store.try_lock("reconciler", "me", 300, holder_gone=holder_process_gone)
        alive = f"{socket.gethostname()}:{os.getpid()}:other"
        store.unlock("reconciler", "me")
        assert store.try_lock("reconciler", alive, 300)
        assert not store.try_lock("reconciler", "me", 300, holder_gone=holder_process_gone)
    finally:
        store.close()
