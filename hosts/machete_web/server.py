"""``machete serve``: run the app on the configured address."""

from __future__ import annotations

import asyncio
import signal

from aiohttp import web

from machete_cli import log_format
from machete_cli.client import discovery
from machete_core.settings import Settings
from machete_web import ingress_host
from machete_web.app import create_app
from machete_web.authn import LOCAL_CREDENTIAL
from machete_web.keys import TOOLS_LISTENER
from machete_web.proxy.app import create_tools_app


def serve(settings: Settings) -> None:
    """Serve on ``settings.host``; every request is authenticated, so any address may be used
    (put a TLS proxy in front for anything beyond loopback: docs/security.md)."""
    log_format.configure()
    asyncio.run(_serve(settings))


async def _serve(settings: Settings) -> None:
    """The API (and dashboard) and the tools on two listeners, i.e. two browser origins."""

    api = create_app(settings)
    credential = discovery.new_credential()
    api[LOCAL_CREDENTIAL] = credential
    api_runner = web.AppRunner(api, access_log=None)
    await api_runner.setup()
    # The built-in ingress is this server's own tools listener; another one (Caddy) serves
    # the tools port itself and asks this server who may open a tool.
    listener: web.AppRunner
    if ingress_host.uses_builtin_proxy(settings):
        # Tool requests whose client left are cancelled, never sent on to a tool.
        listener = web.AppRunner(create_tools_app(api), access_log=None, handler_cancellation=True)
        await listener.setup()
    else:
        listener = await ingress_host.auth_listener(api)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        api_site = web.TCPSite(api_runner, settings.host, settings.port)
        await api_site.start()
        if ingress_host.uses_builtin_proxy(settings):
            tools_site = web.TCPSite(listener, settings.host, settings.effective_tools_port)
            await tools_site.start()
            api[TOOLS_LISTENER].port = _bound_port(tools_site) or settings.effective_tools_port
        else:
            await ingress_host.start_auth_site(listener, settings)
            api[TOOLS_LISTENER].port = settings.effective_tools_port
        api_port = _bound_port(api_site) or settings.port
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
        await listener.cleanup()
        await api_runner.cleanup()


def _bound_port(site: web.TCPSite) -> int | None:
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    return int(sockets[0].getsockname()[1]) if sockets else None
