"""What a line of work is about, for whoever renders log records.

The core logs through the standard library only. It binds the context of the work it does
(the operation, its tool, the step, the request that started it) here, in context variables,
and the hosts' log formatters read :func:`current` into every record they render. Variables,
not thread-locals: a value bound by an asyncio task or copied into a worker thread with
``contextvars.copy_context()`` follows the work, not the thread.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Iterator
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any

#: The keys a line may carry (others are refused: a typo must not invent a field).
FIELDS = ("request_id", "actor", "route", "tool", "operation_id", "step")
_KNOWN = frozenset(FIELDS)

#: Values the lines of this work must never show (an operation's config secrets): the
#: renderers pass every line through :func:`machete_core.secrets.redact` with these.
_SECRETS: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "machete_log_secrets", default=()
)
_CONTEXT: contextvars.ContextVar[MappingProxyType[str, Any]] = contextvars.ContextVar(
    "machete_log_context", default=MappingProxyType({})
)

#: A request id a client may choose: short, printable, no spaces or separators a log reader
#: or a header could be confused by.
REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


def well_formed_request_id(value: str) -> bool:
    return REQUEST_ID.fullmatch(value) is not None


def current() -> MappingProxyType[str, Any]:
    """The context bound where this runs (empty outside any work)."""
    return _CONTEXT.get()


def request_id() -> str | None:
    value = _CONTEXT.get().get("request_id")
    return value if isinstance(value, str) else None


def bind(**values: Any) -> contextvars.Token[MappingProxyType[str, Any]]:
    """Add ``values`` (None values are left out) until :func:`reset` with the token."""
    if not _KNOWN.issuperset(values):
        raise ValueError(f"unknown log context fields: {sorted(set(values) - _KNOWN)}")
    merged = dict(_CONTEXT.get())
    for key, value in values.items():
        if value is not None:
            merged[key] = value
    return _CONTEXT.set(MappingProxyType(merged))


def reset(token: contextvars.Token[MappingProxyType[str, Any]]) -> None:
    _CONTEXT.reset(token)


@contextmanager
def bound(**values: Any) -> Iterator[None]:
    token = bind(**values)
    try:
        yield
    finally:
        reset(token)


def secrets() -> tuple[str, ...]:
    return _SECRETS.get()


@contextmanager
def secrets_bound(values: tuple[str, ...]) -> Iterator[None]:
    """Redact ``values`` (too) from the lines logged within."""
    merged = tuple(sorted({*_SECRETS.get(), *(v for v in values if v)}, key=len, reverse=True))
    token = _SECRETS.set(merged)
    try:
        yield
    finally:
        _SECRETS.reset(token)
