"""What the API's handlers share: the request body, query values, the 202 answer."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web

from machete_core.access.principal import ANONYMOUS
from machete_core.domain.operations import Actor
from machete_core.errors import InvalidInputError
from machete_core.machete import Machete
from machete_core.state.views import OperationRecord
from machete_web.authn import PRINCIPAL
from machete_web.keys import MACHETE, run_operation
from machete_web.schemas import Accepted, Links, parse, render

T = TypeVar("T")


def machete(request: web.Request) -> Machete:
    """The installation, acting for the request's principal (anonymous when none)."""
    return request.app[MACHETE].acting_as(request.get(PRINCIPAL, ANONYMOUS))


def actor(request: web.Request) -> Actor:
    """Who asks, as recorded on operations and events: the principal's actor (the host's own
    CLI through ``<home>/server.json`` is ``local:machete CLI``, as in local mode)."""
    return request.get(PRINCIPAL, ANONYMOUS).actor()


async def body(request: web.Request) -> dict[str, Any]:
    """The JSON object of the body (an empty body is an empty object)."""
    if not request.can_read_body:
        return {}
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidInputError("the request body is not UTF-8") from None
    except RecursionError:
        raise InvalidInputError("the request body is nested too deeply") from None
    if not isinstance(data, dict):
        raise InvalidInputError("the request body must be a JSON object")
    return data


async def body_as(request: web.Request, cls: type[T]) -> T:
    return parse(cls, await body(request))


def int_query(request: web.Request, key: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(key)
    return default if raw is None else int_field(raw, key, lo, hi)


def int_field(raw: str, key: str, lo: int, hi: int) -> int:
    """An integer from a query or a form, in ``lo..hi``, or ``invalid_input`` naming it."""
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInputError(f"'{key}' must be an integer", details={"path": key}) from None
    if not lo <= value <= hi:
        raise InvalidInputError(f"'{key}' must be between {lo} and {hi}", details={"path": key})
    return value


def respond(record: Any, status: int = 200) -> web.Response:
    return web.json_response(render(record), status=status)


def start_operation(request: web.Request, op: OperationRecord) -> None:
    """Run a submitted operation in the background (its outcome is recorded on it)."""
    run_operation(request.app, machete(request), op.id)


def accepted(request: web.Request, op: OperationRecord, message: str) -> web.Response:
    """Start the operation in the background; answer 202 with where to follow it."""
    start_operation(request, op)
    links = Links(operation=f"/api/operations/{op.id}", log=f"/api/operations/{op.id}/log")
    return respond(Accepted(message, op.id, op, links), status=202)
