"""The dashboard's static files, served under a URL with their content hash: a browser may
keep them for a year, and a new version is a new URL (no build step computes it: the server
hashes the files once at start)."""

from __future__ import annotations

import hashlib
from importlib import resources

import jinja2
from aiohttp import web

ASSETS = web.AppKey("dashboard_assets", dict)
TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


def setup(app: web.Application, env: jinja2.Environment) -> None:
    files: dict[str, tuple[str, bytes]] = {}
    folder = resources.files("machete_web.dashboard").joinpath("static")
    for entry in folder.iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if entry.is_file() and suffix in TYPES:
            data = entry.read_bytes()
            files[entry.name] = (hashlib.sha256(data).hexdigest()[:16], data)
    app[ASSETS] = files

    def asset(name: str) -> str:
        digest, _ = files[name]
        return f"/static/{digest}/{name}"

    env.globals["asset"] = asset
    app.router.add_get("/static/{digest}/{name}", serve)


async def serve(request: web.Request) -> web.Response:
    found = request.app[ASSETS].get(request.match_info["name"])
    if found is None or found[0] != request.match_info["digest"]:
        raise web.HTTPNotFound()
    digest, data = found
    name = request.match_info["name"]
    response = web.Response(body=data, content_type=TYPES["." + name.rsplit(".", 1)[-1]])
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    response.headers["ETag"] = f'"{digest}"'
    return response
