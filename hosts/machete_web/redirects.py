"""``/tools/<name>/`` on the API's origin: a redirect to the tools' own listener.

The API origin never serves tool content: a tool's page there could act as whoever views it.
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from machete_core.domain.naming import is_valid_name
from machete_core.errors import MacheteError
from machete_web.authn import PRINCIPAL
from machete_web.hosts import tool_url
from machete_web.keys import MACHETE, core


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
    principal = request.get(PRINCIPAL)
    if principal is not None and principal.session is not None and browser:
        # A signed-in browser gets a one-time ticket that signs it in on the tool's origin
        # (a session of that origin's own: no cookie is shared with the API's).
        ticket = await core(request, request.app[MACHETE].auth.issue_ticket, principal, tool)
        target = quote("/" + tail + sep + query, safe="")
        raise web.HTTPFound(
            tool_url(
                request,
                settings,
                tool,
                f"/_machete/session?ticket={ticket}&next={target}",
            )
        )
    if principal is not None and not principal.signed_in and browser:
        try:
            public = await core(request, request.app[MACHETE].acting_as(principal).may_open, tool)
        except MacheteError:
            public = True  # no such tool: the tools' origin says so
        if not public:
            # Not signed in here: the dashboard signs in, then comes back.
            raise web.HTTPFound("/sign-in?next=" + quote(request.raw_path, safe=""))
    raise web.HTTPTemporaryRedirect(
        tool_url(request, settings, tool, "/" + tail + sep + query, by_host=browser)
    )
