"""Every answer the API tests see, checked against the OpenAPI document: its status must be
one the operation declares and its JSON body must match the declared schema."""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from jsonschema import Draft202012Validator

from machete_web.openapi import document


@functools.cache
def _templates() -> list[tuple[re.Pattern[str], str]]:
    found = []
    for path in document()["paths"]:
        pattern = re.sub(r"\\{\w+\\}", "[^/]+", re.escape(path))
        found.append((re.compile(f"^{pattern}$"), path))
    # A literal segment wins over a template one (``/status`` before ``{action}``).
    found.sort(key=lambda item: item[1].count("{"))
    return found


def match(path: str) -> str | None:
    for pattern, template in _templates():
        if pattern.match(path):
            return template
    return None


def _resolve(item: dict[str, Any]) -> dict[str, Any]:
    ref = item.get("$ref")
    if ref is None:
        return item
    node: Any = document()
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return dict(node)


def problems(method: str, path: str, status: int, content_type: str, body: bytes) -> list[str]:
    """What is wrong with one answer (nothing for paths the document does not describe)."""
    template = match(path)
    if template is None:
        return []
    operation = document()["paths"][template].get(method.lower())
    if operation is None:
        return [] if status == 405 else [f"{method} {template} is not in the document"]
    declared = operation["responses"].get(str(status))
    if declared is None:
        return [f"{method} {path}: status {status} is not declared ({body[:200]!r})"]
    content = _resolve(declared).get("content", {})
    kind = content_type.split(";")[0].strip()
    if status == 400 and kind == "text/plain":
        return []  # aiohttp's HTTP parser refused the request before the app saw it
    if kind not in content:
        if content and status != 101:
            return [f"{method} {path}: {status} answered {kind}, declared {sorted(content)}"]
        return []
    if kind != "application/json":
        return []
    schema = {**content[kind]["schema"], "components": document()["components"]}
    validator = Draft202012Validator(schema)
    data = json.loads(body)
    return [
        f"{method} {path} {status}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(data)
    ]
