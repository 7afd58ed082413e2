from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from machete_core.state.db import make_engine, migrate
from machete_core.state.models import Base
from machete_core.state.store import Store

ROOT = Path(__file__).resolve().parents[2]


def test_migrations_create_exactly_the_models(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine)
    migrate(engine)  # idempotent on an up-to-date database
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


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


def test_tools_by_name_and_id(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'm.db'}")
    tool = store.create_tool(name="t", source_kind="git", source_url="https://x/t.git")
    assert store.get_tool("t").id == tool.id
    assert store.get_tool(str(tool.id)).name == "t"
    assert store.get_tool(tool.id).name == "t"
    assert store.find_tool("nope") is None


def test_release_numbers_count_per_tool(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'm.db'}")
    a = store.create_tool(name="a", source_kind="git", source_url="u")
    b = store.create_tool(name="b", source_kind="git", source_url="u")
    nums = [
        store.create_release(t.id, key="k", builder="d", runtime="d", status="built").number
        for t in (a, a, b, a)
    ]
    assert nums == [1, 2, 1, 3]


def test_concurrent_writer_processes_wait_instead_of_failing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
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


def test_one_mutating_operation_per_tool_even_when_racing(tmp_path: Path) -> None:
    import threading

    from machete_core.errors import ToolBusyError

    url = f"sqlite:///{tmp_path / 'race.db'}"
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
