"""``machete serve``: run the app on the configured address."""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Callable

from aiohttp import web

from machete_cli import log_format
from machete_cli.client import discovery
from machete_core.settings import Settings
from machete_plugins.prometheus.metrics import PROXY_FAMILIES
from machete_web import ingress_host
from machete_web.app import create_app
from machete_web.authn import LOCAL_CREDENTIAL
from machete_web.keys import MACHETE, METRICS, TOOLS_LISTENER
from machete_web.proxy.supervisor import ListenerProcess
from machete_web.sockets import bind


def serve(settings: Settings) -> None:
    """Serve on ``settings.host``; every request is authenticated, so any address may be used
    (put a TLS proxy in front for anything beyond loopback: docs/security.md)."""
    log_format.configure()
    asyncio.run(_serve(settings))


async def _serve(settings: Settings) -> None:
    """The API (and dashboard) and the tools on two listeners, i.e. two browser origins."""

    # Both ports are opened before anything starts: one that is taken, or a host that is no
    # address here, is a coded error instead of a traceback after the tools have started.
    api_sockets = bind(
        settings.host,
        settings.port,
        what="the API's port",
        setting="MACHETE_PORT (machete serve --port)",
        inheritable=False,
    )
    tools_sockets = (
        bind(settings.host, settings.effective_tools_port)
        if ingress_host.uses_builtin_proxy(settings)
        else None
    )
    try:
        await _serve_on(settings, api_sockets, tools_sockets)
    finally:
        for sock in [*api_sockets, *(tools_sockets or [])]:
            sock.close()


async def _serve_on(
    settings: Settings,
    api_sockets: list[socket.socket],
    tools_sockets: list[socket.socket] | None,
) -> None:
    api = create_app(settings)
    credential = discovery.new_credential()
    api[LOCAL_CREDENTIAL] = credential
    # The built-in ingress is a process of this server's (proxy/worker.py), so the server's
    # own work never holds up a proxied request; another ingress (Caddy) serves the tools
    # port itself and asks this server who may open a tool.
    tools: ListenerProcess | None = None
    if tools_sockets is not None:
        tools = ListenerProcess(settings, tools_sockets)
        api[METRICS].hand_over(PROXY_FAMILIES, tools.render_metrics)
    api_runner = web.AppRunner(api, access_log=None)
    await api_runner.setup()
    auth_listener = None if tools else await ingress_host.auth_listener(api)
    unfollow: Callable[[], None] | None = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        # After the API's start-up (migrations, the first reconciler round), before the API
        # answers: once it does, so do the tools.
        if tools is not None:
            await tools.start()
            unfollow = tools.follow(api[MACHETE])
            api[TOOLS_LISTENER].port = tools.port
            api[TOOLS_LISTENER].state = tools.view
        elif auth_listener is not None:
            await ingress_host.start_auth_site(auth_listener, settings)
            api[TOOLS_LISTENER].port = settings.effective_tools_port
        for sock in api_sockets:
            await web.SockSite(api_runner, sock).start()
        api_port = int(api_sockets[0].getsockname()[1])
        # The CLI on this machine now talks to this server (docs/cli.md, "Which server").
        discovery.publish(settings.home, discovery.local_url(settings.host, api_port), credential)
        print(
            f"MACHETE serving on http://{settings.host}:{api_port}/, tools on port "
            f"{api[TOOLS_LISTENER].port} through the {settings.ingress} ingress "
            f"(state: {settings.home})",
            flush=True,
        )
        await stop.wait()
    finally:
        discovery.withdraw(settings.home, credential)
        if unfollow is not None:
            unfollow()
        if tools is not None:
            await tools.stop()
        if auth_listener is not None:
            await auth_listener.cleanup()
        await api_runner.cleanup()
