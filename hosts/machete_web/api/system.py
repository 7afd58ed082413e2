"""The server's own health: ``/api/health`` and ``/api/health/db``."""

from __future__ import annotations

from aiohttp import web

from machete_core.api_version import API_VERSION
from machete_core.version import __version__
from machete_web.api.common import machete, respond
from machete_web.keys import core
from machete_web.schemas import DatabaseHealth, ServerHealth


def setup(app: web.Application) -> None:
    app.router.add_get("/api/health", health)
    app.router.add_get("/api/health/db", health_db)


async def health(request: web.Request) -> web.Response:
    return respond(ServerHealth("ok", __version__, API_VERSION))


async def health_db(request: web.Request) -> web.Response:
    dialect = await core(request, machete(request).check_database)
    return respond(DatabaseHealth("ok", dialect))
