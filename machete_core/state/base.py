"""What every part of the store shares: the engine, sessions, the write counter, the change
marker, and the strict assignment of fields (a misspelt field is an error, never silently
dropped)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker


class UnknownFieldError(TypeError):
    """A store update named a field the table does not have (a bug in the caller)."""


def check_fields(
    row_type: type[Any], fields: Mapping[str, Any], extra: tuple[str, ...] = ()
) -> None:
    """Refuse fields that are not columns of ``row_type`` (nor one of ``extra``, the
    names a method translates itself, such as ``spec`` for ``spec_json``)."""
    columns = set(row_type.__table__.columns.keys())
    unknown = sorted(set(fields) - columns - set(extra))
    if unknown:
        raise UnknownFieldError(
            f"{row_type.__tablename__} has no field(s) {', '.join(unknown)} "
            f"(known: {', '.join(sorted(columns | set(extra)))})"
        )


def assign(row: Any, fields: Mapping[str, Any]) -> None:
    check_fields(type(row), fields)
    for key, value in fields.items():
        setattr(row, key, value)


class StoreBase:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        #: Bumped by every write through this store (caches of views compare it).
        self.generation = 0
        event.listen(self._sessions, "after_flush", self._written)
        event.listen(self._sessions, "do_orm_execute", self._maybe_written)
        database = engine.url.database if engine.dialect.name == "sqlite" else None
        self._files = (
            (Path(database), Path(database + "-wal"))
            if database and database != ":memory:"
            else None
        )

    def change_marker(self) -> tuple[int, ...] | None:
        """A value that differs after any process commits to the database, read without a
        query (cheap enough for an event loop): the size and time of SQLite's database and
        write-ahead log files. None where only a query can tell (a server database)."""
        if self._files is None:
            return None
        marker: list[int] = []
        for path in self._files:
            try:
                found = os.stat(path)
            except FileNotFoundError:
                marker += [0, 0]
                continue
            marker += [found.st_size, found.st_mtime_ns]
        return tuple(marker)

    def _written(self, *_args: Any) -> None:
        self.generation += 1

    def _maybe_written(self, state: Any) -> None:
        if state.is_insert or state.is_update or state.is_delete:
            self.generation += 1

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session
