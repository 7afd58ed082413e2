"""The API's OpenAPI 3.1 document, served at ``/api/openapi.json`` and kept in the repository
as ``docs/openapi.json`` (``python -m machete_web.openapi > docs/openapi.json``; a test fails
when the two differ)."""

from __future__ import annotations

import functools
import json
from typing import Any

from aiohttp import web

from machete_web.openapi.document import build, core_codes, operation_keys

__all__ = ["build", "core_codes", "document", "document_bytes", "operation_keys", "setup"]


@functools.cache
def document() -> dict[str, Any]:
    return build()


@functools.cache
def document_bytes() -> bytes:
    return (json.dumps(document(), indent=2, ensure_ascii=False) + "\n").encode()


async def serve(request: web.Request) -> web.Response:
    return web.Response(body=document_bytes(), content_type="application/json")


def setup(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", serve)
