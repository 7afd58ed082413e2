"""The dashboard: server-rendered pages (Jinja2, autoescaped) enhanced by one hand-written ES
module and a few Web Components, with no build step. Every action is a plain form (POST, then
303 to the result); live data streams as Server-Sent Events (``streams.py``), never polled.

Pages go through the same route policy as the API (``route_policy.ROUTES``); ``pages.py`` turns
the policy's refusals into pages (401: to the sign-in page) and sets the strict headers."""

from __future__ import annotations

import aiohttp_jinja2
import jinja2
from aiohttp import web

from machete_web.dashboard import assets, pages, streams
from machete_web.dashboard.pages import page_middleware
from machete_web.dashboard.views import (
    admin,
    install,
    notifications,
    operations,
    session,
    tool,
    tools,
)


def setup(app: web.Application) -> None:
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("machete_web.dashboard", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    pages.configure(env)
    assets.setup(app, env)
    for module in (session, tools, install, tool, operations, admin, notifications, streams):
        module.setup(app)


__all__ = ["page_middleware", "setup"]
