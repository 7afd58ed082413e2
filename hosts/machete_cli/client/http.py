"""The API over HTTP with the standard library's ``http.client``: no third-party import on the
way to a one-line answer, one kept-alive connection per command, the API version checked on
every answer, and every failure turned into one error with a stable code."""

from __future__ import annotations

import http.client
import json
import os
import ssl
import stat
from collections.abc import Mapping, Sequence
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode, urlsplit

from machete_cli.client.errors import (
    ApiVersionMismatchError,
    BadResponseError,
    RemoteError,
    ServerUnreachableError,
    TlsFailedError,
)
from machete_core.api_version import API_VERSION, HEADER
from machete_core.errors import InvalidInputError, MacheteError

#: Seconds to wait for a connection and for each read (a long ``?wait=`` sets its own).
TIMEOUT_S = 60.0
Query = Mapping[str, str | int | Sequence[str]] | None


def normalize_url(url: str) -> str:
    """``https://Host:443/base/`` -> ``https://host:443/base``; http and https only."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(
            f"{url!r} is not a server's URL: give http(s)://host[:port]", details={"url": url}
        )
    netloc = parts.hostname.lower()
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port:
        netloc += f":{parts.port}"
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


def path(*segments: str) -> str:
    """A path of the API with each name quoted (a tool named ``a/b`` cannot turn a path)."""
    return "/" + "/".join(quote(s, safe="") for s in segments)


class ApiClient:
    def __init__(self, url: str, token: str | None, *, login_hint: str | None = None) -> None:
        self.url = normalize_url(url)
        self.token = token
        #: What to run when the token is not good (``machete login URL``), or None.
        self.login_hint = login_hint
        parts = urlsplit(self.url)
        self.secure = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.secure else 80)
        self.base = parts.path
        self._conn: http.client.HTTPConnection | None = None

    # -- requests ------------------------------------------------------------------------

    def headers(self) -> dict[str, str]:
        found = {HEADER: str(API_VERSION), "User-Agent": f"machete-cli (API {API_VERSION})"}
        if self.token:
            found["Authorization"] = f"Bearer {self.token}"
        return found

    def get(self, where: str, query: Query = None) -> Any:
        return self.call("GET", where, query=query)

    def call(
        self,
        method: str,
        where: str,
        *,
        query: Query = None,
        data: Any = None,
        body: BinaryIO | None = None,
        content_type: str | None = None,
        timeout: float = TIMEOUT_S,
        accept: Sequence[int] = (),
    ) -> Any:
        """Send a request; the answer's JSON. An error document becomes :class:`RemoteError`
        unless its status is in ``accept`` (then its JSON is returned too)."""
        headers = self.headers()
        payload: Any = None
        if data is not None:
            payload = json.dumps(data).encode()
            headers["Content-Type"] = "application/json"
        elif body is not None:
            payload = body
            headers["Content-Type"] = content_type or "application/octet-stream"
            size = _size(body)
            if size is not None:
                headers["Content-Length"] = str(size)
        target = self.base + where + (("?" + urlencode(query, doseq=True)) if query else "")
        status, reason, answer, raw = self._send(method, target, payload, headers, timeout)
        version = answer.get(HEADER.lower())
        if version is None:
            # Every answer under /api/ of a server of this API says it.
            raise BadResponseError(
                f"{self.url} answered HTTP {status} {reason}, not as a MACHETE server "
                "(is the URL right? a server older than this CLI does not say its API version)"
            )
        if version != str(API_VERSION):
            raise ApiVersionMismatchError(
                f"the server at {self.url} speaks API version {version}; this machete speaks "
                f"{API_VERSION}: use the machete CLI of the server's release"
            )
        try:
            document = json.loads(raw) if raw else {}
        except ValueError:
            raise BadResponseError(
                f"{self.url} answered HTTP {status} {reason} that is not JSON"
            ) from None
        if status >= 400 and status not in accept:
            raise self.error_from(status, document)
        return document

    def _send(
        self,
        method: str,
        target: str,
        payload: Any,
        headers: dict[str, str],
        timeout: float,
    ) -> tuple[int, str, dict[str, str], bytes]:
        chunked = payload is not None and not isinstance(payload, bytes)
        chunked = chunked and "Content-Length" not in headers
        for attempt in (1, 2):
            conn = self._connection(timeout)
            try:
                conn.request(method, target, body=payload, headers=headers, encode_chunked=chunked)
                response = conn.getresponse()
                raw = response.read()
                answer = {k.lower(): v for k, v in response.getheaders()}
                return response.status, response.reason, answer, raw
            except ssl.SSLError as exc:
                self.close()
                raise TlsFailedError(
                    f"TLS with {self.url} failed: {exc.reason or exc} (for a private CA, point "
                    "SSL_CERT_FILE at its certificate)"
                ) from None
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A kept-alive connection the server closed meanwhile: one fresh try, when
                # nothing of a streamed body can have been lost.
                self.close()
                if attempt == 2 or (payload is not None and not isinstance(payload, bytes)):
                    raise ServerUnreachableError(
                        f"{self.url} closed the connection before answering"
                    ) from None
            except TimeoutError:
                self.close()
                raise ServerUnreachableError(
                    f"{self.url} did not answer within {timeout:g} s"
                ) from None
            except OSError as exc:
                self.close()
                raise ServerUnreachableError(
                    f"no MACHETE server answers at {self.url} ({exc.strerror or exc}): is it "
                    "running? (`machete --local` works on this machine's state)"
                ) from None
        raise AssertionError("unreachable")

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.secure:
                self._conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=timeout, context=ssl_context()
                )
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        self._conn.timeout = timeout
        if self._conn.sock is not None:
            self._conn.sock.settimeout(timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- answers -------------------------------------------------------------------------

    def error_from(self, status: int, document: Any) -> MacheteError:
        """The error an answer's problem document states (the server's code and message)."""
        error = document.get("error") if isinstance(document, dict) else None
        if not isinstance(error, dict) or not isinstance(error.get("code"), str):
            return BadResponseError(f"{self.url} answered HTTP {status} without an error code")
        code, message = error["code"], str(error.get("message", ""))
        if status == 401 and self.login_hint:
            message += f": run {self.login_hint}"
        return RemoteError(code, message, status, error.get("details") or None)


def _size(body: BinaryIO) -> int | None:
    """The bytes left in a regular file (sent with a length); None for a pipe (chunked)."""
    try:
        found = os.fstat(body.fileno())
        return found.st_size - body.tell() if stat.S_ISREG(found.st_mode) else None
    except (OSError, ValueError):
        return None


def ssl_context() -> ssl.SSLContext:
    """The system's CAs (``SSL_CERT_FILE``/``SSL_CERT_DIR`` point elsewhere), hostnames
    checked, TLS 1.2 at least."""
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
