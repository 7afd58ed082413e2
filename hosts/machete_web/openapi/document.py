"""The OpenAPI 3.1 document of the HTTP API, built from ``paths.py``, the records it names and
the route policy (which gives each operation its security and its 401/403)."""

from __future__ import annotations

import importlib
import re
from typing import Any

from machete_core import errors
from machete_core.api_version import API_VERSION, HEADER
from machete_core.version import __version__
from machete_plugins import BUILTIN_PLUGINS
from machete_web import route_policy
from machete_web.openapi.operation import Op, Shape
from machete_web.openapi.paths import LEGACY, OPERATIONS, RECORDS, WRITTEN
from machete_web.openapi.record_schemas import RecordSchemas
from machete_web.schemas import ACTIONS, Accepted

#: Codes the web host answers with itself (the core's come from its error classes).
HOST_CODES = (
    "bad_host",
    "host_not_allowed",
    "ambiguous_credentials",
    "enrol_second_factor",
    "tool_timeout",
    "bad_path",
    "api_version_unsupported",
    "invalid_json",
    "unauthenticated",
    "forbidden",
    "cross_origin",
    "not_found",
    "method_not_allowed",
    "too_large",
    "http_error",
    "unsupported_encoding",
    "rate_limited",
    "internal_error",
    "operation_ended",
    "bad_upstream_response",
    "tool_refused_websocket",
    "tool_unreachable",
)
#: What every operation may answer, whatever it does.
COMMON = {
    400: "The request is malformed: bad JSON (`invalid_json`) or URL (`bad_path`), or "
    "it carries two kinds of credentials (`ambiguous_credentials`).",
    401: "Credentials were given but are not good (expired, revoked, unknown): "
    "`unauthenticated`; on a protected operation, also none at all.",
    404: "Not found: a name in the path is unknown or hidden from you (`not_found`, "
    "`tool_not_found`, ...), or the request went to the tools' origin.",
    421: "The server does not answer to this Host (`host_not_allowed`).",
    415: "A compressed request body (`unsupported_encoding`).",
    422: "A field or parameter is invalid (`invalid_input` and others; `details.path`).",
    429: "Too many requests (`rate_limited`); see `Retry-After`.",
    503: "The database or the container engine is unavailable.",
}
SIGNED_IN = {
    403: "Not allowed (`forbidden`), a cross-site request, or a session that must enrol a "
    "second factor first (`enrol_second_factor`).",
}
CHANGES = {403: "A cross-site request may not change state (`cross_origin`)."}
SECURITY: list[dict[str, list[str]]] = [{"bearerToken": []}, {"sessionCookie": []}]
_PARAM = re.compile(r"{(\w+)}")


def core_codes() -> list[str]:
    """Every stable code of the errors of the core and the bundled plugins (not the CLI
    client's own, which no server sends)."""
    for module in BUILTIN_PLUGINS:
        importlib.import_module(module)  # their error classes exist once imported
    found: set[str] = set()
    stack: list[type[errors.MacheteError]] = [errors.MacheteError]
    while stack:
        cls = stack.pop()
        if cls.__module__.startswith(("machete_core", "machete_plugins")):
            found.add(cls.code)
        stack.extend(cls.__subclasses__())
    return sorted(found)


def problem_schema() -> dict[str, Any]:
    code = {"type": "string", "enum": sorted({*core_codes(), *HOST_CODES})}
    return {
        "type": "object",
        "description": "Every error: a stable `code` (see docs/errors.md) and a message for a "
        "person; `error_code` and `message` repeat them for the original API's clients.",
        "properties": {
            "success": {"const": False},
            "error": {
                "type": "object",
                "properties": {
                    "code": code,
                    "message": {"type": "string"},
                    "details": {"type": "object"},
                },
                "required": ["code", "message"],
                "additionalProperties": False,
            },
            "error_code": code,
            "message": {"type": "string"},
        },
        "required": ["success", "error", "error_code", "message"],
        "additionalProperties": False,
    }


def route_key(method: str, path: str) -> tuple[str, str]:
    """The router's (and the route policy's) key of a described operation: the document
    lists ``POST /api/tools/{tool}/{action}`` once per action."""
    head, _sep, last = path.rpartition("/")
    if method == "POST" and head == "/api/tools/{tool}" and last in ACTIONS:
        return method, head + "/{action}"
    return method, path


def operation_keys() -> list[tuple[str, str]]:
    """The router's ``(method, path)`` of every described operation."""
    return sorted({route_key(method, path) for method, path in OPERATIONS})


class _Builder:
    def __init__(self) -> None:
        self.records = RecordSchemas()
        #: The error statuses used, with the first description: shared responses.
        self.statuses: dict[int, str] = {}

    def schema(self, shape: Shape, *, request: bool = False) -> dict[str, Any]:
        if isinstance(shape, dict):
            return shape
        return self.records.ref(shape, request=request)

    def operation(self, method: str, path: str, op: Op) -> dict[str, Any]:
        policy = route_policy.ROUTES[route_key(method, path)]
        public = policy == route_policy.PUBLIC
        out: dict[str, Any] = {
            "operationId": operation_id(method, path),
            "summary": op.summary,
            "tags": [op.tag],
            "security": [] if public else SECURITY,
        }
        if not public:
            out["x-machete-permission"] = policy
        if (method, path) in LEGACY:
            out["deprecated"] = True
        if op.description:
            out["description"] = op.description
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PARAM.findall(path)
        ]
        params += [
            {
                "name": q.name,
                "in": "query",
                "required": False,
                "schema": q.schema,
                "description": q.description,
            }
            for q in op.query
        ]
        if params:
            out["parameters"] = params
        content: dict[str, Any] = {}
        if op.body is not None:
            content["application/json"] = {"schema": self.schema(op.body, request=True)}
        for kind in op.uploads:
            content[kind] = {"schema": {"type": "string", "contentMediaType": kind}}
        if content:
            out["requestBody"] = {"required": not op.body_optional, "content": content}
        out["responses"] = self.responses(method, path, op, public)
        return out

    def responses(self, method: str, path: str, op: Op, public: bool) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if op.websocket:
            found["101"] = {"description": "Switching to the WebSocket."}
        if op.response is not None:
            content = {"application/json": {"schema": self.schema(op.response)}}
            for kind, schema in op.alternatives.items():
                content[kind] = {"schema": schema}
            found[str(op.status)] = {"description": op.summary, "content": content}
            if op.links:
                found[str(op.status)]["links"] = {
                    name: {
                        "operationId": operation_id(link.method, link.path),
                        "parameters": {link.parameter: link.expression},
                    }
                    for name, link in op.links.items()
                }
        elif not op.websocket:
            found[str(op.status)] = {"description": op.summary}
        errors_of: dict[int, str] = dict(COMMON)
        if not public:
            errors_of.update(SIGNED_IN)
        elif method != "GET":
            errors_of.update(CHANGES)
        errors_of.update(op.errors)
        for status, text in sorted(errors_of.items()):
            if status < 400:
                # Another success: a 202 starts an operation; else the same body as the first.
                shape = Accepted if status == 202 or op.response is None else op.response
                found[str(status)] = {
                    "description": text,
                    "content": {"application/json": {"schema": self.schema(shape)}},
                }
            else:
                found[str(status)] = {"$ref": f"#/components/responses/Error{status}"}
                self.statuses[status] = self.statuses.get(status, text)
        return found


def operation_id(method: str, path: str) -> str:
    """``GET /api/tools/{tool}/health`` is ``getToolsToolHealth``; the legacy spellings
    (``/health``, a trailing slash) get ids of their own."""
    words = [w for w in re.split(r"[/{}._-]+", path) if w and w != "api"]
    if not path.startswith("/api/"):
        words.insert(0, "root")
    if path.endswith("/"):
        words.append("slash")
    return method.lower() + "".join(w[:1].upper() + w[1:] for w in words)


def build() -> dict[str, Any]:
    """The document, built fresh (``machete_web.openapi.document`` caches it)."""
    b = _Builder()
    paths: dict[str, dict[str, Any]] = {}
    for (method, path), op in OPERATIONS.items():
        paths.setdefault(path, {})[method.lower()] = b.operation(method, path, op)
    for record in RECORDS:
        b.records.ref(record)
    schemas = {**b.records.components, **WRITTEN, "Problem": problem_schema()}
    responses = {
        f"Error{status}": {
            "description": text,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status, text in sorted(b.statuses.items())
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "MACHETE",
            "version": __version__,
            "summary": "Install, build, run and operate small internal tools.",
            "description": f"See docs/http.md. Send `{HEADER}` to pin the API "
            f"version (this server speaks {API_VERSION}).",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "responses": responses,
            "securitySchemes": {
                "bearerToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token (`mch_...`): `Authorization: Bearer <token>`.",
                },
                "sessionCookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "machete_session",
                    "description": "A browser's session (`__Host-machete_session` over HTTPS); "
                    "requests that change state must come from the same origin.",
                },
            },
        },
    }
