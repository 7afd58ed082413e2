"""Engines and migrations.

SQLite (the embedded default) runs in WAL mode and every transaction starts with
``BEGIN IMMEDIATE``: a second writer (the CLI beside a running server) then waits on the busy
timeout instead of failing with "database is locked" half-way through a transaction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from machete_core.errors import DatabaseCorruptError, SchemaTooNewError

SQLITE_BUSY_TIMEOUT_S = 60


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see below).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


#: The newest migration; a test checks it against Alembic's script directory.
HEAD_REVISION = "0017"


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (run at every start; cheap when current).

    The common case, a database already at :data:`HEAD_REVISION`, is answered with one query
    and without importing Alembic, which keeps every CLI command fast.
    """
    current = _current_revision(engine)
    if current == HEAD_REVISION:
        return
    if current is not None and current > HEAD_REVISION:
        raise SchemaTooNewError(
            f"the database's schema ({current}) is newer than this MACHETE's ({HEAD_REVISION}): "
            "it was written by a newer MACHETE; upgrade MACHETE, or restore a backup made by "
            "this version (machete restore)"
        )
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def _current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                # Reads the header: a file that is not SQLite fails here, not half-way later.
                conn.execute(text("PRAGMA schema_version")).scalar()
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError as exc:
        message = str(getattr(exc, "orig", exc)).lower()
        if "not a database" in message or "malformed" in message or "corrupt" in message:
            raise DatabaseCorruptError(
                f"the database ({engine.url.render_as_string(hide_password=True)}) is damaged: "
                f"{getattr(exc, 'orig', exc)}. Restore a backup (machete restore FILE), or move "
                "the file aside to start afresh"
            ) from None
        return None  # no version table yet: a new database
