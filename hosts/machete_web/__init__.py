"""The aiohttp host: REST + WebSocket API, the dashboard, one core call per handler.

Importing the package is cheap (the CLI imports its ``cli_commands`` to list ``serve``); the
application and aiohttp load on first use of :func:`create_app`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from machete_web.app import create_app
    from machete_web.keys import MACHETE

__all__ = ["MACHETE", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from machete_web.app import create_app

        return create_app
    if name == "MACHETE":
        from machete_web.keys import MACHETE

        return MACHETE
    raise AttributeError(name)
