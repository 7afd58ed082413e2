"""Hooks of the web host: plugins add HTTP routes (datasette's ``register_routes``).

Implemented in the same plugin modules as the core's hooks (the ``machete`` entry-point
group), with the same ``hookimpl`` marker; the web host adds these specifications to the
installation's plugin manager and calls them when it builds the application.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import attrs
import pluggy
from aiohttp import web

hookspec = pluggy.HookspecMarker("machete")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@attrs.frozen
class WebRoute:
    """One route a plugin adds: ``method`` (``GET``, ``POST``, ... or ``*``), ``path`` (an
    aiohttp path pattern), the handler coroutine, and what a caller needs: ``public``,
    ``signed_in`` (the default; the handler authorizes more with
    ``request.app[MACHETE].acting_as(principal).authorize(...)``), or an action's name, checked
    before the handler runs (on the ``{tool}`` of the path, if it has one)."""

    method: str
    path: str
    handler: Handler
    action: str = "signed_in"


@hookspec
def machete_web_routes() -> Sequence[WebRoute]:
    """Offer routes for the API listener.

    :return: a list of :class:`WebRoute`. Handlers run behind the same middlewares as the
        API's own (allowed hosts, error documents, same-origin checks). A route whose method
        and path the API already serves is reported in the server log and skipped; a plugin
        that raises is reported by ``machete plugins`` as failed and the server still starts.

    .. versionadded:: 0.2
    """
