"""The server's part in the ingress: start a supervised data plane (managed Caddy) before
the first reconciler round publishes the routes, publish them all again whenever it had to
be restarted, stop it with the server; and the listener where it asks whether a request may
reach a tool (``proxy/ingress_auth.py``); what ``ingress status`` says of the built-in
ingress's process."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import attrs
from aiohttp import web

from machete_core.domains import IngressView
from machete_core.machete import Machete
from machete_core.plugins.protocols import SupervisedIngress
from machete_core.settings import Settings
from machete_web.keys import ToolsListener
from machete_web.proxy.ingress_auth import create_ingress_auth_app

log = logging.getLogger(__name__)


def uses_builtin_proxy(settings: Settings) -> bool:
    return settings.ingress == "builtin"


def start(machete: Machete, on_restart: Callable[[], None]) -> SupervisedIngress | None:
    """Start the ingress's data plane when the server is to run it (blocking: in a pool)."""
    ingress = machete.core.ingress()
    if not isinstance(ingress, SupervisedIngress):
        return None
    ingress.start(on_restart)
    log.info("ingress %s started", machete.settings.ingress)
    return ingress


async def auth_listener(platform: web.Application) -> web.AppRunner:
    """The ingress's ``forward_auth`` target (``proxy/ingress_auth.py``), set up."""
    runner = web.AppRunner(create_ingress_auth_app(platform), access_log=None)
    await runner.setup()
    return runner


async def start_auth_site(runner: web.AppRunner, settings: Settings) -> None:
    """Where it answers: a unix socket only this user may open (the default), or
    ``MACHETE_INGRESS_AUTH_LISTEN`` for a Caddy that cannot open it."""
    if settings.ingress_auth_listen:
        host, _, port = settings.ingress_auth_listen.rpartition(":")
        await web.TCPSite(runner, host.strip("[]") or "127.0.0.1", int(port)).start()
        return
    path = settings.ingress_auth_socket
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.unlink(missing_ok=True)
    await web.UnixSite(runner, str(path)).start()
    os.chmod(path, 0o600)


def with_listener(found: IngressView, listener: ToolsListener) -> IngressView:
    """``found`` with the tools' listener process, when it is this server's (the built-in
    ingress): whether that ingress serves is whether the process runs, which the core cannot
    see."""
    if listener.state is None:
        return found
    state = listener.state()
    problem = found.problem
    if not state.running and problem is None:
        ended = f" (it ended with status {state.last_exit})" if state.last_exit is not None else ""
        problem = f"the tools' listener is not running{ended}; the server starts it again"
    return attrs.evolve(found, listener=state, problem=problem)
