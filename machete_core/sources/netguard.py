"""Which network addresses sources may connect to (SSRF guard).

Only public (globally routable) addresses are allowed unless an admin allow-lists networks. The
check runs on every address a name resolves to, and transports connect to the very address that
was checked, so DNS rebinding between check and connect cannot slip through.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

import attrs

from machete_core.errors import AddressNotAllowedError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
AddrInfo = tuple[
    socket.AddressFamily, socket.SocketKind, int, str, tuple[str, int] | tuple[str, int, int, int]
]


def _parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values if v.strip())


#: How an admin widens the sources' policy (the refusal says so).
SOURCES_HINT = (
    "an admin can allow networks with `machete settings set allowed_networks CIDR,...`, "
    "or MACHETE_ALLOWED_NETWORKS"
)


@attrs.frozen
class AddressPolicy:
    allowed: tuple[IPNetwork, ...] = ()
    #: The setting that would allow more, named in every refusal.
    hint: str = SOURCES_HINT

    @classmethod
    def from_strings(cls, values: Iterable[str], hint: str = SOURCES_HINT) -> AddressPolicy:
        return cls(_parse_networks(values), hint)

    def permits(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in net for net in self.allowed):
            return True
        return ip.is_global and not ip.is_multicast

    def check(self, host: str, address: str) -> None:
        if not self.permits(address):
            raise AddressNotAllowedError(
                f"connections to {host} are not allowed: it resolves to a non-public address "
                f"({self.hint})"
            )

    def resolve(self, host: str, port: int) -> list[AddrInfo]:
        """Every address of ``host``; all must be permitted (a mixed answer is refused)."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise AddressNotAllowedError(f"cannot resolve {host}: {exc.strerror}") from None
        if not infos:
            raise AddressNotAllowedError(f"cannot resolve {host}")
        for info in infos:
            self.check(host, str(info[4][0]))
        return infos  # type: ignore[return-value]
