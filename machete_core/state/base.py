"""What every part of the store shares: the engine, sessions, the write counter, and the
strict assignment of fields (a misspelt field is an error, never silently dropped)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
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
