"""``/tools/<name>/`` on the API's origin: a redirect to the tools' own listener.

The API origin never serves tool content: a tool's page there could act as whoever views it.
"""

from __future__ import annotations

from aiohttp import web

from machete_core.domain.naming import is_valid_name
from machete_web.hosts import tool_url
from machete_web.keys import MACHETE


def setup(app: web.Application) -> None:
    app.router.add_route("*", "/tools/{tool}", redirect)
    app.router.add_route("*", "/tools/{tool}/{tail:.*}", redirect)


async def redirect(request: web.Request) -> web.StreamResponse:
    settings = request.app[MACHETE].settings
    path, sep, query = request.raw_path.partition("?")
    rest = path[len("/tools/") :]
    tool, _slash, tail = rest.partition("/")
    if not is_valid_name(tool):
        raise web.HTTPNotFound(reason="no such tool")
    # 307 keeps the method and body (a POST to a tool stays a POST).
    # Browsers go to the tool's own host (with a tools domain); programs, which may not
    # resolve wildcard names, to its path on the tools listener.
    browser = request.headers.get("Sec-Fetch-Mode") == "navigate"
    raise web.HTTPTemporaryRedirect(
        tool_url(request, settings, tool, "/" + tail + sep + query, by_host=browser)
    )
