"""A small client of Caddy's admin API, over a unix socket (``unix//path``) or TCP
(``http://127.0.0.1:2019``). Caddy applies each change whole or refuses it (400), so every
call here either happened or raised :class:`IngressError`."""

from __future__ import annotations

import http.client
import json
import time
from typing import Any
from urllib.parse import urlsplit

from machete_core.errors import IngressError
from machete_core.unix_http import UnixHTTPConnection

#: Seconds for one admin call: a config change reloads Caddy's HTTP app (fast; TLS
#: certificates are obtained in the background).
TIMEOUT = 30.0
#: Attempts at a change Caddy failed to load.
RETRIES = 5


class _LoadFailed(Exception):
    """Caddy refused to load the changed configuration (and kept the old one)."""


class NotFound(IngressError):
    """The admin API has no such path or ``@id``: MACHETE's objects were removed behind its
    back (the reconciler publishes them again)."""

    code = "ingress_object_missing"


class AdminClient:
    def __init__(self, endpoint: str, timeout: float = TIMEOUT) -> None:
        self.endpoint = endpoint
        self.timeout = timeout

    @property
    def socket_path(self) -> str | None:
        return self.endpoint[len("unix/") :] if self.endpoint.startswith("unix/") else None

    def _connection(self) -> http.client.HTTPConnection:
        path = self.socket_path
        if path is not None:
            return UnixHTTPConnection(path, self.timeout)
        parts = urlsplit(self.endpoint if "//" in self.endpoint else "http://" + self.endpoint)
        if parts.scheme not in ("http", "") or not parts.hostname:
            raise IngressError(
                f"Caddy's admin endpoint {self.endpoint!r} is neither unix//PATH nor "
                "http://HOST:PORT (MACHETE_CADDY_ADMIN)"
            )
        return http.client.HTTPConnection(parts.hostname, parts.port or 2019, timeout=self.timeout)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One change or read; the decoded JSON answer (None when empty).

        A change Caddy could not load is not applied at all (the old configuration keeps
        running), so it is tried again a few times: Caddy 2.6 can trip over a certificate
        it is still writing in the background ("decoding certificate metadata")."""
        for attempt in range(RETRIES):
            try:
                return self._call(method, path, body)
            except _LoadFailed as exc:
                if attempt == RETRIES - 1:
                    raise IngressError(str(exc)) from None
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    def _call(self, method: str, path: str, body: Any) -> Any:
        data = None if body is None else json.dumps(body).encode()
        # Caddy checks Host against its admin address: the TCP address as dialled, and
        # an empty Host on a unix socket.
        headers = {"Accept": "application/json"}
        if self.socket_path is not None:
            headers["Host"] = ""
        if data is not None:
            headers["Content-Type"] = "application/json"
        conn = self._connection()
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        except OSError as exc:
            raise IngressError(
                f"Caddy's admin API at {self.endpoint} did not answer: {exc}"
            ) from None
        finally:
            conn.close()
        missing = b"unknown object ID" in raw or b"invalid traversal path" in raw
        if resp.status == 404 or (resp.status == 400 and missing):
            raise NotFound(f"Caddy has no {path}")
        if resp.status >= 300:
            text = raw.decode("utf-8", "replace").strip()
            if resp.status == 500 and "loading new config" in text:
                raise _LoadFailed(f"Caddy could not load {method} {path}: {text[:500]}")
            raise IngressError(f"Caddy refused {method} {path} ({resp.status}): {text[:500]}")
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise IngressError(f"Caddy answered {method} {path} with no JSON") from None

    def answers(self) -> str | None:
        """None when the admin API answers, else why not."""
        try:
            self.call("GET", "/config/")
        except IngressError as exc:
            return exc.message
        return None
