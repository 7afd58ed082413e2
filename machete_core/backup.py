"""Backup and restore of an installation's whole state, in one ``.tar.gz`` file.

What is in it:

- ``manifest.json``: format, MACHETE version, schema revision, time, what was included;
- ``database.json``: every table's rows, as JSON. A logical dump, so a backup of SQLite restores
  into PostgreSQL and back; it is read in one transaction (a consistent snapshot);
- ``secret.key``: the key that seals credentials and secret configuration. Without it they
  cannot be read, so it travels with the backup (keep the file as safe as the key itself; it
  is written 0600);
- ``files/tools/...``: every tool's data directory; ``files/uploads/...``: uploaded archives
  (the source of tools installed from one); ``files/logs/...``: operation logs (optional).

Not in it: images and containers, which live in the engine and are rebuilt from source
(``machete deploy NAME --force``) on a new engine; on the same engine the reconciler adopts
the containers that still run.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import attrs
from sqlalchemy import Integer, MetaData, select, text
from sqlalchemy.engine import make_url

from machete_core import beneath
from machete_core.errors import BackupError, InvalidInputError, RestoreRefusedError
from machete_core.secrets import KEY_ENV, KEY_FILE, SecretBox
from machete_core.settings import Settings
from machete_core.state.db import HEAD_REVISION, make_engine, migrate
from machete_core.version import __version__

FORMAT = "machete-backup/1"
#: Never part of a backup: Alembic's own bookkeeping, and locks that belong to live processes.
SKIPPED_TABLES = {"alembic_version", "locks"}
FILE_PARTS = ("volumes", "tools", "uploads", "logs")


@attrs.frozen
class BackupReport:
    path: str
    revision: str
    tables: dict[str, int]
    files: int
    bytes: int


def create_backup(settings: Settings, dest: Path, *, include_logs: bool = True) -> BackupReport:
    """Write the state of ``settings``' installation to ``dest`` (a new ``.tar.gz``)."""
    if dest.exists():
        raise InvalidInputError(f"{dest} already exists; choose a new file")
    engine = make_engine(settings.effective_database_url)
    try:
        migrate(engine)
        tables, revision = _dump_database(engine)
    finally:
        engine.dispose()
    key = SecretBox.key_for_home(settings.home)
    parts = [p for p in FILE_PARTS if include_logs or p != "logs"]
    counts = {name: len(rows) for name, rows in tables.items()}
    manifest = {
        "format": FORMAT,
        "machete": __version__,
        "revision": revision,
        "created_at": time.time(),
        "database": make_url(settings.effective_database_url).get_backend_name(),
        "installation": settings.installation,
        "files": parts,
        "tables": counts,
    }
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    files = 0
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            _add_bytes(tar, "manifest.json", json.dumps(manifest, indent=2).encode())
            _add_bytes(tar, "database.json", json.dumps(tables).encode())
            _add_bytes(tar, "secret.key", key)
            for part in parts:
                # Tools write their volumes: walked by descriptor, never through a link,
                # so a link a tool planted can neither be followed nor swapped in mid-walk.
                for rel, fd, st in beneath.walk_files(settings.home / part):
                    info = tarfile.TarInfo(f"files/{part}/{rel}")
                    info.mtime = int(st.st_mtime)
                    info.mode = stat.S_IMODE(st.st_mode) & 0o755
                    if fd < 0:
                        info.type = tarfile.DIRTYPE
                        tar.addfile(info)
                        continue
                    info.size = st.st_size
                    with os.fdopen(os.dup(fd), "rb") as fh:
                        tar.addfile(info, _Exactly(fh, st.st_size))
                    files += 1
        os.replace(partial, dest)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return BackupReport(
        path=str(dest),
        revision=revision,
        tables=counts,
        files=files,
        bytes=dest.stat().st_size,
    )


def restore_backup(settings: Settings, source: Path, *, force: bool = False) -> BackupReport:
    """Restore ``source`` into ``settings``' installation, which must be empty (no tools)
    unless ``force``, in which case its database and files are replaced."""
    from machete_core.sources.archive import ArchiveLimits, extract_archive

    with tempfile.TemporaryDirectory(prefix="machete-restore-") as tmp:
        unpacked = Path(tmp) / "backup"
        limits = ArchiveLimits(
            max_total_bytes=1024**4,
            max_member_bytes=1024**4,
            max_members=10_000_000,
            max_ratio=None,
        )
        with source.open("rb") as stream:
            extract_archive(stream, unpacked, limits)
        manifest = _read_json(unpacked / "manifest.json")
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise BackupError(f"{source} is not a MACHETE backup ({FORMAT})")
        revision = str(manifest.get("revision"))
        if revision > HEAD_REVISION:
            raise BackupError(
                f"the backup's schema ({revision}) is newer than this MACHETE's ({HEAD_REVISION});"
                " upgrade MACHETE first"
            )
        tables = _read_json(unpacked / "database.json")
        if not isinstance(tables, dict):
            raise BackupError("the backup's database.json is not a table map")
        key = (unpacked / "secret.key").read_bytes().strip()
        SecretBox(key)  # a valid key, or a clear error before anything changes
        if os.environ.get(KEY_ENV) and os.environ[KEY_ENV].encode() != key:
            raise RestoreRefusedError(
                f"${KEY_ENV} is set to another key than the backup's: set it to the backup's "
                "key (its secret.key) or unset it, then restore again"
            )

        engine = make_engine(settings.effective_database_url)
        try:
            _check_target(engine, settings, force)
            _load_database(engine, tables, revision)
        finally:
            engine.dispose()
        settings.home.mkdir(parents=True, exist_ok=True)
        _restore_key(settings, key)
        files = 0
        for part in manifest.get("files", []):
            if part not in FILE_PARTS:
                continue
            target = settings.home / part
            if target.exists() or target.is_symlink():
                if force:
                    shutil.rmtree(target)
                else:
                    # Never copy into what is there (it may hold links a tool planted) and
                    # never lose it: it is set aside whole.
                    target.rename(target.with_name(f"{part}.before-restore-{int(time.time())}"))
            packed = unpacked / "files" / part
            if packed.is_dir():
                shutil.copytree(packed, target, symlinks=True, dirs_exist_ok=True)
                files += sum(1 for p in target.rglob("*") if p.is_file())
    return BackupReport(
        path=str(source),
        revision=revision,
        tables={name: len(rows) for name, rows in tables.items()},
        files=files,
        bytes=source.stat().st_size,
    )


def _dump_database(engine: Any) -> tuple[dict[str, list[dict[str, Any]]], str]:
    metadata = MetaData()
    metadata.reflect(engine)
    out: dict[str, list[dict[str, Any]]] = {}
    # One transaction: the rows of every table are from the same moment (SQLite's transactions
    # here are serializable; PostgreSQL needs REPEATABLE READ for one snapshot).
    options = {"isolation_level": "REPEATABLE READ"} if engine.dialect.name == "postgresql" else {}
    with engine.connect().execution_options(**options) as conn, conn.begin():
        revision = str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar())
        for table in metadata.sorted_tables:
            if table.name in SKIPPED_TABLES:
                continue
            order = list(table.primary_key.columns) or list(table.columns)
            rows = conn.execute(select(table).order_by(*order)).mappings()
            out[table.name] = [dict(row) for row in rows]
    return out, revision


def _check_target(engine: Any, settings: Settings, force: bool) -> None:
    migrate(engine)
    with engine.connect() as conn:
        tools = conn.execute(text("SELECT COUNT(*) FROM tools")).scalar() or 0
    if tools and not force:
        raise RestoreRefusedError(
            f"this installation already has {tools} tool(s); restore into an empty one, or "
            "pass --force to replace its state with the backup's"
        )


def _load_database(engine: Any, tables: dict[str, list[dict[str, Any]]], revision: str) -> None:
    """Empty the schema, build it at the backup's revision, insert its rows, then upgrade."""
    from alembic import command
    from alembic.config import Config

    current = MetaData()
    current.reflect(engine)
    with engine.begin() as conn:
        for table in reversed(current.sorted_tables):
            table.drop(conn)
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "state" / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    schema = MetaData()
    schema.reflect(engine)
    with engine.begin() as conn:
        for table in schema.sorted_tables:
            rows = tables.get(table.name) or []
            if table.name in SKIPPED_TABLES or not rows:
                continue
            unknown = set(rows[0]) - set(table.columns.keys())
            if unknown:
                raise BackupError(f"table {table.name} has no columns {sorted(unknown)}")
            conn.execute(table.insert(), rows)
        if engine.dialect.name == "postgresql":
            # Rows came with their ids: move each id sequence past them.
            for table in schema.sorted_tables:
                column = table.columns.get("id")
                if column is not None and isinstance(column.type, Integer):
                    conn.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                            f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
                        )
                    )
    migrate(engine)


def _restore_key(settings: Settings, key: bytes) -> None:
    if os.environ.get(KEY_ENV):
        return  # the same key (checked before anything changed)
    path = settings.home / KEY_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


class _Exactly(io.RawIOBase):
    """A file that yields exactly ``size`` bytes (padded with zeros if it shrank meanwhile),
    so a tool truncating a file during a backup cannot make the archive inconsistent."""

    def __init__(self, fh: Any, size: int) -> None:
        self.fh = fh
        self.left = size

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        n = self.left if n < 0 else min(n, self.left)
        data = self.fh.read(n) or b""
        data = data + b"\0" * (n - len(data))
        self.left -= len(data)
        return data


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BackupError(f"the backup is incomplete or damaged: {path.name}: {exc}") from None
