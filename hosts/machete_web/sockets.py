"""Listening sockets of ``machete serve``, opened before anything is started: a port that is
taken or a host that is no address of this machine is a coded error naming the setting that
chooses another, never a traceback."""

from __future__ import annotations

import socket

from machete_core.errors import InvalidInputError, MacheteError


class AddressInUseError(MacheteError):
    code = "address_in_use"
    http_status = 409


def bind(
    host: str,
    port: int,
    *,
    what: str = "the tools' port",
    setting: str = "MACHETE_TOOLS_PORT",
    inheritable: bool = True,
) -> list[socket.socket]:
    """Listening sockets for ``host`` (every address it resolves to), all on one port (the
    OS's choice when ``port`` is 0). ``what`` and ``setting`` name the port in the error;
    ``inheritable`` sockets can be handed to a child process (the tools' listener)."""
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise InvalidInputError(
            f"MACHETE_HOST={host!r} (machete serve --host) is no address this machine can "
            f"listen on ({exc.strerror})"
        ) from None
    seen: set[tuple[int, str]] = set()  # (family, address)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _name, address in infos:
            key = (int(family), str(address[0]))
            if key in seen:
                continue
            seen.add(key)
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            bound_port = sockets[0].getsockname()[1] if len(sockets) > 1 else port
            sock.bind((address[0], bound_port, *address[2:]))
            sock.listen(1024)
            sock.set_inheritable(inheritable)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise AddressInUseError(
            f"{what} {host}:{port} cannot be opened ({exc.strerror}); choose another with {setting}"
        ) from None
    return sockets
