"""How one route of the API is described: the record of ``paths.py``'s table."""

from __future__ import annotations

from typing import Any

import attrs

#: A record class, or a JSON Schema given as a dict.
Shape = type[Any] | dict[str, Any]


@attrs.frozen
class Query:
    """One query parameter."""

    name: str
    schema: dict[str, Any]
    description: str


@attrs.frozen
class Link:
    """An OpenAPI link from an operation's success answer to another operation: where a
    value of the answer goes (schemathesis follows them in its stateful phase)."""

    method: str
    path: str
    #: The target's parameter and the runtime expression that fills it.
    parameter: str
    expression: str


@attrs.frozen
class Op:
    """One operation: what it answers on success and which errors it may answer beyond the
    ones every operation may (``document.py`` adds those from the route's policy)."""

    summary: str
    tag: str
    #: The success status and its body (None: no JSON body is described).
    status: int = 200
    response: Shape | None = None
    body: Shape | None = None
    #: The body is optional (an empty body is ``{}``).
    body_optional: bool = False
    query: tuple[Query, ...] = ()
    #: Further statuses (beyond the common ones) with what they mean.
    errors: dict[int, str] = attrs.Factory(dict)
    description: str = ""
    #: Other content types of the success answer (e.g. NDJSON), by type, with their schema.
    alternatives: dict[str, dict[str, Any]] = attrs.Factory(dict)
    #: Other request bodies (an archive upload), by content type.
    uploads: tuple[str, ...] = ()
    #: A WebSocket: answered ``101`` to an upgrade (and, for some, JSON to a plain GET).
    websocket: bool = False
    #: Links from the success answer, by name.
    links: dict[str, Link] = attrs.Factory(dict)
