"""``GET /api/plugins``: plugins, their providers, capabilities and availability."""

from __future__ import annotations

from aiohttp import web

from machete_web.api.common import machete
from machete_web.keys import core


def setup(app: web.Application) -> None:
    app.router.add_get("/api/plugins", plugins)


async def plugins(request: web.Request) -> web.Response:
    return web.json_response({"plugins": await core(request, machete(request).plugin_report)})
