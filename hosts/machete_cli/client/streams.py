"""Following over the API's WebSockets (imported only when a command follows something).

``websockets``' synchronous client: a blocking iterator of messages suits a CLI that prints
each as it comes; a close with 4401 means the credentials stopped being good."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from websockets.exceptions import ConnectionClosedError, InvalidStatus, WebSocketException
from websockets.sync.client import connect

from machete_cli.client.errors import BadResponseError, RemoteError, ServerUnreachableError
from machete_cli.client.http import ApiClient, Query, ssl_context


def messages(client: ApiClient, where: str, query: Query = None) -> Iterator[str]:
    """The text messages of the WebSocket at ``where`` until the server closes it.

    A thread reads the socket and this generator waits on a queue: Ctrl-C then interrupts our
    own wait, never the WebSocket library in the middle of its work (which left its close
    waiting for a whole timeout)."""
    uri = "ws" + client.url.removeprefix("http") + where  # http -> ws, https -> wss
    if query:
        uri += "?" + urlencode(query, doseq=True)
    try:
        ws = connect(
            uri,
            additional_headers=client.headers(),
            user_agent_header=None,
            ssl=ssl_context() if client.secure else None,
            proxy=None,
            compression=None,
            open_timeout=30,
            close_timeout=2,
            max_size=2**24,
        )
    except InvalidStatus as exc:
        raise _refused(client, exc) from None
    except (OSError, WebSocketException) as exc:
        raise ServerUnreachableError(f"cannot follow at {client.url}: {exc}") from None
    inbox: queue.Queue[tuple[str, Any]] = queue.Queue()

    def read() -> None:
        try:
            for message in ws:
                inbox.put(("message", message))
            inbox.put(("end", None))
        except Exception as exc:
            inbox.put(("error", exc))

    threading.Thread(target=read, name="machete-follow", daemon=True).start()
    try:
        while True:
            kind, value = inbox.get()
            if kind == "end":
                return
            if kind == "error":
                raise _broken(client, value)
            yield value if isinstance(value, str) else value.decode("utf-8", "replace")
    finally:
        ws.close()


def _broken(client: ApiClient, exc: Exception) -> Exception:
    if isinstance(exc, ConnectionClosedError) and exc.rcvd is not None and exc.rcvd.code == 4401:
        hint = f": run {client.login_hint}" if client.login_hint else ""
        reason = exc.rcvd.reason or "signed out"
        return RemoteError("unauthenticated", f"the server ended the stream: {reason}{hint}", 401)
    return ServerUnreachableError(f"the stream from {client.url} broke off")


def json_messages(client: ApiClient, where: str, query: Query = None) -> Iterator[Any]:
    for text in messages(client, where, query):
        try:
            yield json.loads(text)
        except ValueError:
            raise BadResponseError(f"{client.url} sent a message that is not JSON") from None


def _refused(client: ApiClient, exc: InvalidStatus) -> Exception:
    """The handshake answered with an error document instead of switching protocols."""
    status = exc.response.status_code
    try:
        document = json.loads(exc.response.body or b"{}")
    except ValueError:
        return BadResponseError(f"{client.url} refused the stream with HTTP {status}")
    return client.error_from(status, document)
