"""urllib3 plumbing shared by the git and tarball sources: address guard, redirects, limits.

Connections go only to addresses the :class:`AddressPolicy` permits (checked at connect time, for
every DNS answer); redirects are followed only within the same scheme and host; each response
is read against a byte budget and a deadline.
"""

from __future__ import annotations

import socket
import time
from typing import Any
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from machete_core.errors import FetchLimitError, SourcePolicyError
from machete_core.sources.netguard import AddressPolicy

MAX_REDIRECTS = 5


class _GuardedConnectMixin:
    policy: AddressPolicy
    host: str
    port: int
    timeout: Any
    socket_options: Any

    def _new_conn(self) -> socket.socket:
        host = getattr(self, "_dns_host", self.host)
        errors: list[OSError] = []
        for family, kind, proto, _name, sockaddr in self.policy.resolve(host, self.port):
            sock = socket.socket(family, kind, proto)
            try:
                timeout = self.timeout if isinstance(self.timeout, int | float) else None
                sock.settimeout(timeout)
                for opt in self.socket_options or ():
                    sock.setsockopt(*opt)
                sock.connect(sockaddr)  # the checked address itself, never a new lookup
                return sock
            except OSError as exc:
                sock.close()
                errors.append(exc)
        raise urllib3.exceptions.NewConnectionError(self, f"cannot connect to {host}: {errors[-1]}")  # type: ignore[arg-type]


class Budget:
    """Bytes and seconds one fetch may use, shared by every response it reads."""

    def __init__(self, max_bytes: int, seconds: float) -> None:
        self.max_bytes = max_bytes
        self.deadline = time.monotonic() + seconds
        self.seconds = seconds
        self.used = 0

    def spend(self, n: int) -> None:
        self.used += n
        if self.used > self.max_bytes:
            raise FetchLimitError(f"the download is larger than {self.max_bytes} bytes")
        if time.monotonic() > self.deadline:
            raise FetchLimitError(f"the download took longer than {self.seconds:g}s")


class LimitedResponse:
    """Wraps a urllib3 response so every read counts against the budget."""

    def __init__(self, response: Any, budget: Budget) -> None:
        object.__setattr__(self, "_response", response)
        object.__setattr__(self, "_budget", budget)

    def read(self, amt: int | None = None, *args: Any, **kwargs: Any) -> bytes:
        self._budget.spend(0)  # the deadline holds even between reads
        data: bytes = self._response.read(amt if amt is not None else 1024 * 1024, *args, **kwargs)
        if amt is None:
            chunks = [data]
            while data:
                self._budget.spend(len(data))
                data = self._response.read(1024 * 1024)
                chunks.append(data)
            return b"".join(chunks)
        self._budget.spend(len(data))
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._response, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._response, name, value)


class GuardedPoolManager(urllib3.PoolManager):
    def __init__(self, policy: AddressPolicy, budget: Budget | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        mixin = {"policy": policy}
        http_conn = type("GuardedHTTPConnection", (_GuardedConnectMixin, HTTPConnection), mixin)
        https_conn = type("GuardedHTTPSConnection", (_GuardedConnectMixin, HTTPSConnection), mixin)
        self.pool_classes_by_scheme = {
            "http": type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
            "https": type(
                "GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}
            ),
        }
        self.budget = budget

    def urlopen(self, method: str, url: str, redirect: bool = True, **kw: Any) -> Any:  # type: ignore[override]
        origin = urlsplit(url)
        for _ in range(MAX_REDIRECTS + 1):
            response = super().urlopen(method, url, redirect=False, **kw)
            location = response.get_redirect_location() if redirect else None
            if not location:
                return LimitedResponse(response, self.budget) if self.budget else response
            target = urlsplit(urljoin(url, location))
            if (target.scheme, target.hostname, target.port) != (
                origin.scheme,
                origin.hostname,
                origin.port,
            ):
                response.drain_conn()
                raise SourcePolicyError(
                    f"refused a redirect from {origin.hostname} to another host or scheme"
                )
            response.drain_conn()
            url = target.geturl()
            if response.status == 303:
                method, kw = "GET", {k: v for k, v in kw.items() if k != "body"}
        raise SourcePolicyError("too many redirects")
