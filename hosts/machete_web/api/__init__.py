"""The REST + WebSocket API: one module per resource; the original API's routes in
``legacy.py``. Each handler validates its input (``schemas.py``), makes one core call through
the facade in the bounded pool, and renders a record."""

from __future__ import annotations

from aiohttp import web

from machete_web import openapi
from machete_web.api import (
    auth,
    config,
    domains,
    events,
    hooks,
    legacy,
    notifications,
    operations,
    people,
    plugins,
    system,
    tools,
)


def setup(app: web.Application) -> None:
    for module in (
        system,
        auth,
        people,
        plugins,
        hooks,
        notifications,
        domains,
        tools,
        config,
        operations,
        events,
        legacy,
    ):
        module.setup(app)
    openapi.setup(app)
