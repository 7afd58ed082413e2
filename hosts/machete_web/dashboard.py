"""The dashboard: one static page that reads the JSON API."""

from __future__ import annotations

from importlib import resources

from aiohttp import web


def setup(app: web.Application) -> None:
    app.router.add_get("/", index)


async def index(request: web.Request) -> web.Response:
    html = resources.files("machete_web").joinpath("static/index.html").read_text(encoding="utf-8")
    return web.Response(text=html, content_type="text/html")
