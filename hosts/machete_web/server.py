"""``machete serve``: run the app on the configured address."""

from __future__ import annotations

import ipaddress
import logging
import socket

from aiohttp import web

from machete_core.errors import InvalidInputError
from machete_core.settings import Settings
from machete_web.app import create_app


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(
                ipaddress.ip_address(info[4][0]).is_loopback
                for info in socket.getaddrinfo(host, None)
            )
        except OSError:
            return False


def serve(settings: Settings, *, allow_remote: bool = False) -> None:
    if not is_loopback(settings.host) and not allow_remote:
        raise InvalidInputError(
            f"refusing to listen on {settings.host}: the API has no authentication yet, so it "
            "binds loopback only (pass --allow-remote to override)"
        )
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    print(f"MACHETE serving on http://{settings.host}:{settings.port}/ (state: {settings.home})")
    web.run_app(
        create_app(settings), host=settings.host, port=settings.port, print=None, access_log=None
    )
