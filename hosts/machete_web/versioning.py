"""The API's version on every answer, and a refusal for clients that speak another one
(``machete_core.api_version``): a client learns the mismatch from one line, not from fields
that are missing or mean something else."""

from __future__ import annotations

from aiohttp import web

from machete_core.api_version import API_VERSION, HEADER
from machete_web.problems import Handler, problem


@web.middleware
async def api_version_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    asked = request.headers.get(HEADER)
    if asked is not None and asked.strip() != str(API_VERSION):
        return problem(
            400,
            "api_version_unsupported",
            f"this server speaks API version {API_VERSION}, not {asked.strip()[:16]!r}: "
            "use a machete CLI of the server's release",
            server=API_VERSION,
        )
    return await handler(request)


async def add_version_header(request: web.Request, response: web.StreamResponse) -> None:
    if request.path.startswith("/api/"):
        response.headers[HEADER] = str(API_VERSION)


def setup(app: web.Application) -> None:
    app.on_response_prepare.append(add_version_header)
