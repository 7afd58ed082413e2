"""Backup and restore of the state: round trips across backends, refusals, damaged files."""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from pathlib import Path

import pytest

from machete_core.backup import (
    _dump_database,
    create_backup,
    restore_backup,
)
from machete_core.errors import BackupError, MacheteError, RestoreRefusedError
from machete_core.machete import create_machete
from machete_core.secrets import SecretBox
from machete_core.settings import Settings
from machete_core.state.db import make_engine


def populated(settings: Settings) -> None:
    """A state with a row in every table and files in every part."""
    with create_machete(settings) as m:
        tool = m.store.create_tool(
            name="t",
            source_kind="git",
            source_url="https://x/t.git",
            source_credentials=m.secrets.seal({"username": "u", "password": "pw-secret"}),
        )
        rel = m.store.create_release(
            tool.id, key="k", builder="docker", runtime="docker", status="live"
        )
        m.store.update_tool(tool.id, current_release_id=rel.id, status="running")
        m.store.change_config(tool.id, {"TOKEN": (m.secrets.seal({"value": "s3cret"}), True)}, [])
        m.store.record_health(tool.id, "healthy", None)
        op = m.submit("stop", "t")
        m.store.update_operation(op.id, status="succeeded", finished_at=time.time())
        m.store.begin_step(op.id, "stop")
        m.events.publish("tool.custom", tool="t", n=1)
        m.store.try_lock("reconciler", "someone", 60)  # never part of a backup
    data = settings.home / "volumes" / "t" / "data"
    data.mkdir(parents=True)
    (data / "notes.txt").write_text("kept\n")
    (settings.home / "uploads").mkdir()
    (settings.home / "uploads" / "sha256-abc").write_bytes(b"archive")


def dump(url: str) -> dict[str, list[dict[str, object]]]:
    engine = make_engine(url)
    try:
        return _dump_database(engine)[0]
    finally:
        engine.dispose()


@pytest.fixture
def source(tmp_path: Path) -> Settings:
    settings = Settings(home=tmp_path / "old")
    populated(settings)
    return settings


def test_round_trip_to_either_backend(source: Settings, tmp_path: Path, database_url: str) -> None:
    file = tmp_path / "state.tar.gz"
    report = create_backup(source, file)
    assert file.stat().st_mode & 0o777 == 0o600  # it carries the key
    assert report.tables["tools"] == 1 and "locks" not in report.tables
    target = Settings(home=tmp_path / "new", database_url=database_url)
    restored = restore_backup(target, file)
    assert restored.tables == report.tables
    assert dump(target.effective_database_url) == dump(source.effective_database_url)
    assert (target.home / "volumes" / "t" / "data" / "notes.txt").read_text() == "kept\n"
    assert (target.home / "uploads" / "sha256-abc").read_bytes() == b"archive"
    # The key came along: sealed values open in the new home.
    with create_machete(target) as m:
        tool = m.store.get_tool("t")
        assert m.source_credentials(tool.source_credentials).password == "pw-secret"  # type: ignore[union-attr]
        assert m.core.config_environment(tool) == {"TOKEN": "s3cret"}
        # New rows get new ids after the restored ones (sequences moved on PostgreSQL).
        other = m.store.create_tool(name="u", source_kind="git", source_url="https://x/u.git")
        assert other.id > tool.id
        assert m.store.events_after(0)[-1].kind == "tool.custom"


def test_a_non_empty_installation_is_not_overwritten(source: Settings, tmp_path: Path) -> None:
    file = tmp_path / "state.tar.gz"
    create_backup(source, file)
    target = Settings(home=tmp_path / "busy")
    with create_machete(target) as m:
        m.store.create_tool(name="mine", source_kind="git", source_url="https://x/m.git")
    with pytest.raises(RestoreRefusedError) as refused:
        restore_backup(target, file)
    assert refused.value.code == "restore_refused"
    with create_machete(target) as m:
        assert [t.name for t in m.list_tools()] == ["mine"]  # untouched
    restore_backup(target, file, force=True)
    with create_machete(target) as m:
        assert [t.name for t in m.list_tools()] == ["t"]


def test_without_logs_and_never_over_an_existing_file(source: Settings, tmp_path: Path) -> None:
    (source.home / "logs").mkdir(exist_ok=True)
    (source.home / "logs" / "x.log").write_text("line\n")
    file = tmp_path / "state.tar.gz"
    create_backup(source, file, include_logs=False)
    with tarfile.open(file) as tar:
        names = tar.getnames()
    assert not any(n.startswith("files/logs") for n in names) and "secret.key" in names
    with pytest.raises(MacheteError):
        create_backup(source, file)


def test_damaged_or_foreign_files_are_refused(tmp_path: Path) -> None:
    target = Settings(home=tmp_path / "new")
    foreign = tmp_path / "foreign.tar.gz"
    with tarfile.open(foreign, "w:gz") as tar:
        for name, data in (("manifest.json", b'{"format": "other"}'), ("x", b""), ("y", b"")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(BackupError) as bad:
        restore_backup(target, foreign)
    assert bad.value.code == "backup_invalid"
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"not an archive at all")
    with pytest.raises(MacheteError):
        restore_backup(target, garbage)


def test_a_backup_from_an_older_schema_is_upgraded(tmp_path: Path) -> None:
    """A backup taken at revision 0005 restores into today's schema."""
    from alembic import command
    from alembic.config import Config

    import machete_core.state.db as db

    old = Settings(home=tmp_path / "old")
    old.home.mkdir()
    engine = make_engine(old.effective_database_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(db.__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0005")
        conn.exec_driver_sql(
            "INSERT INTO tools (name, source_kind, source_url, spec_json, enabled, auto_start, "
            "status, config_version, created_at, updated_at) "
            "VALUES ('legacy', 'git', 'https://x/l.git', '{}', 1, 1, 'stopped', 0, 1, 1)"
        )
    tables, revision = _dump_database(engine)
    engine.dispose()
    assert revision == "0005"
    file = tmp_path / "old.tar.gz"
    manifest = {"format": "machete-backup/1", "revision": revision, "files": []}
    key = SecretBox.key_for_home(old.home)
    with tarfile.open(file, "w:gz") as tar:
        for name, data in (
            ("manifest.json", json.dumps(manifest).encode()),
            ("database.json", json.dumps(tables).encode()),
            ("secret.key", key),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    target = Settings(home=tmp_path / "new")
    restore_backup(target, file)
    with create_machete(target) as m:
        assert m.store.get_tool("legacy").status == "stopped"
        op = m.submit("stop", "legacy")  # the newest schema's columns work
        assert op.holder == m.holder_id


def test_backup_never_follows_a_link_a_tool_planted(source: Settings, tmp_path: Path) -> None:
    host = tmp_path / "host-secret"
    host.mkdir()
    (host / "shadow").write_text("root:hash\n")
    data = source.home / "volumes" / "t" / "data"
    os.symlink(host, data / "rootlink")
    os.symlink(host / "shadow", data / "shadow")
    file = tmp_path / "state.tar.gz"
    create_backup(source, file)
    with tarfile.open(file) as tar:
        names = tar.getnames()
        assert not any("rootlink" in n or n.endswith("/shadow") for n in names)
        assert all(m.isfile() or m.isdir() for m in tar.getmembers())
    target = Settings(home=tmp_path / "new")
    (target.home / "volumes").mkdir(parents=True)
    (target.home / "volumes" / "before.txt").write_text("set aside, not lost\n")
    restore_backup(target, file)
    aside = [p for p in target.home.iterdir() if p.name.startswith("volumes.before-restore-")]
    assert len(aside) == 1 and (aside[0] / "before.txt").read_text() == "set aside, not lost\n"
