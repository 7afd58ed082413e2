"""How the hosts render log records: one JSON object per line when the output is not a
terminal, readable lines when it is (``MACHETE_LOG_FORMAT=json|console`` decides otherwise,
``MACHETE_LOG_LEVEL`` sets the level). ``machete serve`` logs from INFO; the CLI working on
the state itself (local mode) from WARNING. Imported only when one of them starts work (it
loads structlog), never at the CLI's start-up.

Every record goes through here, the core's and the libraries' (aiohttp, SQLAlchemy, the docker
SDK) alike: the standard library's root logger gets one handler whose formatter is structlog's
``ProcessorFormatter``. Each line carries the context of the work it belongs to
(:mod:`machete_core.log_context`: request id, actor, route, tool, operation, step), the fields
given with ``extra=``, and passes through the same redactor as the operation logs.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import sys
from collections.abc import Mapping, MutableMapping
from typing import IO, Any

import structlog

from machete_core import log_context
from machete_core.errors import InvalidInputError
from machete_core.secrets import redact

FORMAT_ENV = "MACHETE_LOG_FORMAT"
LEVEL_ENV = "MACHETE_LOG_LEVEL"
FORMATS = ("json", "console")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: Chatty libraries kept at WARNING unless the level asked for is DEBUG.
QUIET = ("sqlalchemy", "docker", "urllib3", "alembic", "asyncio")
_MARK = "_machete_handler"


def choose_format(value: str | None, stream: IO[str]) -> str:
    if not value:
        return "console" if stream.isatty() else "json"
    if value.lower() not in FORMATS:
        raise InvalidInputError(f"{FORMAT_ENV}={value!r}: choose one of {', '.join(FORMATS)}")
    return value.lower()


def choose_level(value: str | None, default: int = logging.INFO) -> int:
    if not value:
        return default
    if value.upper() not in LEVELS:
        raise InvalidInputError(f"{LEVEL_ENV}={value!r}: choose one of {', '.join(LEVELS)}")
    return int(getattr(logging, value.upper()))


def _add_context(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    # The record's formatted message is the event already.
    event.pop("message", None)
    for key, value in log_context.current().items():
        event.setdefault(key, value)
    return event


#: Fields whose values are MACHETE's own and never carry a secret (checked names, templates,
#: levels, numbers; a tool is bound only when its name is valid): not scanned, on every line.
_PLAIN = frozenset(
    {
        "level",
        "logger",
        "timestamp",
        "request_id",
        "route",
        "tool",
        "operation_id",
        "step",
        "method",
        "status",
        "listener",
        "remote",
        "duration_ms",
        "bytes",
    }
)


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    known = log_context.secrets()
    for key, value in list(event.items()):
        if key in _PLAIN and not known:
            continue
        if isinstance(value, str):
            event[key] = redact(value, known)
        elif isinstance(value, Mapping | list | tuple):
            event[key] = redact(str(value), known)
    return event


#: What every LogRecord has of its own: the rest of its attributes came with ``extra=``.
_RECORD_KEYS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
#: One encoder for every line (``json.dumps`` with options builds a new one each call).
_ENCODER = json.JSONEncoder(default=repr)


class _JSONLines(structlog.stdlib.ProcessorFormatter):
    """The JSON line of a record without a traceback, built in one step: the same fields,
    in the same order, as the processor chain makes (a test holds the two equal), at a
    fraction of its cost. The access line is written once per request, on the proxy's
    path; records with a traceback take the chain."""

    #: The last second stamped, and its text up to the second.
    _second: tuple[int, str] = (-1, "")

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info or record.exc_text or record.stack_info:
            return super().format(record)
        event: dict[str, Any] = {
            "event": record.getMessage(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "timestamp": self._stamp(record.created),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_KEYS:
                event[key] = value
        return _ENCODER.encode(_redact(None, "", _add_context(None, "", event)))

    def _stamp(self, created: float) -> str:
        """ISO 8601 in UTC to the microsecond, as structlog's ``TimeStamper`` writes it; the
        part up to the second is made once a second."""
        whole = int(created)
        if self._second[0] != whole:
            moment = datetime.datetime.fromtimestamp(whole, tz=datetime.UTC)
            self._second = (whole, moment.strftime("%Y-%m-%dT%H:%M:%S"))
        micros = min(round((created - whole) * 1_000_000), 999_999)
        return f"{self._second[1]}.{micros:06d}Z"


def formatter(fmt: str) -> structlog.stdlib.ProcessorFormatter:
    json_lines = fmt == "json"
    renderer: Any = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if json_lines
        else structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    )
    pre_chain: list[Any] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        _add_context,
    ]
    if json_lines:
        # Tracebacks become one string field: a JSON line stays one line.
        pre_chain.append(structlog.processors.format_exc_info)
    pre_chain.append(_redact)
    kind = _JSONLines if json_lines else structlog.stdlib.ProcessorFormatter
    return kind(
        foreign_pre_chain=pre_chain,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )


class _Stderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record comes (a test runner swaps it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure(
    *,
    stream: IO[str] | None = None,
    environ: Mapping[str, str] | None = None,
    default_level: int = logging.INFO,
) -> str:
    """Route every record to ``stream`` (else stderr) in the chosen format; returns the
    format. Calling it again replaces the handler it installed (never adds a second)."""
    env = os.environ if environ is None else environ
    out = stream or sys.stderr
    fmt = choose_format(env.get(FORMAT_ENV), out)
    level = choose_level(env.get(LEVEL_ENV), default_level)
    handler = logging.StreamHandler(out) if stream is not None else _Stderr()
    handler.setFormatter(formatter(fmt))
    setattr(handler, _MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Python's warnings become records too: stderr stays one format.
    logging.captureWarnings(True)
    # No line shows the caller's file, thread or process: not gathering them is about a third
    # of the cost of a line (the logging HOWTO's "Optimization"), and there is a line per
    # request.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    for name in QUIET:
        logging.getLogger(name).setLevel(level if level <= logging.DEBUG else logging.WARNING)
    # aiohttp's own access logger is off (access.py writes one structured line per request).
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    return fmt
