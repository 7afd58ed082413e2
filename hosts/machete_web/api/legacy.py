"""The original MACHETE API's routes, kept for existing scripts (reference/original-machete.md
§10): trailing-slash spellings, ``/health``, and ``POST /api/tools/install`` with ``git_url``,
``name`` and ``branch``. Each maps onto the current handler."""

from __future__ import annotations

from aiohttp import web

from machete_core.errors import InvalidInputError
from machete_web.api import system, tools
from machete_web.api.common import body

#: The original's field names and the current ones.
RENAMED = {"git_url": "url", "branch": "ref"}


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/health", system.health)
    r.add_get("/api/health/", system.health)
    r.add_get("/api/tools/", tools.list_tools)
    r.add_post("/api/tools/", tools.install)
    r.add_post("/api/tools/install", install_original)


async def install_original(request: web.Request) -> web.Response:
    """``{"git_url", "name"?, "branch"?}`` (the current names are accepted too)."""
    data = await body(request)
    for old, new in RENAMED.items():
        if old in data:
            if new in data:
                raise InvalidInputError(f"give one of '{old}' and '{new}'")
            data[new] = data.pop(old)
    return await tools.install_from(request, data)
