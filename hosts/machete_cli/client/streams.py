"""Following over the API's WebSockets (imported only when a command follows something).

``websockets``' synchronous client: a blocking iterator of messages suits a CLI that prints
each as it comes; a close with 4401 means the credentials stopped being good."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from websockets.exceptions import ConnectionClosedError, InvalidStatus, WebSocketException
from websockets.sync.client import connect

from machete_cli.client.errors import BadResponseError, RemoteError, ServerUnreachableError
from machete_cli.client.http import ApiClient, Query, ssl_context


def messages(client: ApiClient, where: str, query: Query = None) -> Iterator[str]:
    """The text messages of the WebSocket at ``where`` until the server closes it."""
    scheme = "wss" if client.secure else "ws"
    host = f"[{client.host}]" if ":" in client.host else client.host
    uri = f"{scheme}://{host}:{client.port}{client.base}{where}"
    if query:
        uri += "?" + urlencode(query, doseq=True)
    try:
        with connect(
            uri,
            additional_headers=client.headers(),
            user_agent_header=None,
            ssl=ssl_context() if client.secure else None,
            proxy=None,
            compression=None,
            open_timeout=30,
            max_size=2**24,
        ) as ws:
            try:
                for message in ws:
                    yield (
                        message if isinstance(message, str) else message.decode("utf-8", "replace")
                    )
            except ConnectionClosedError as exc:
                if exc.rcvd is not None and exc.rcvd.code == 4401:
                    hint = f": run {client.login_hint}" if client.login_hint else ""
                    raise RemoteError(
                        "unauthenticated",
                        f"the server ended the stream: {exc.rcvd.reason or 'signed out'}{hint}",
                        401,
                    ) from None
                raise ServerUnreachableError(f"the stream from {client.url} broke off") from None
    except InvalidStatus as exc:
        raise _refused(client, exc) from None
    except (OSError, WebSocketException) as exc:
        raise ServerUnreachableError(f"cannot follow at {client.url}: {exc}") from None


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
        error = json.loads(exc.response.body or b"{}").get("error") or {}
        code, message = str(error["code"]), str(error.get("message", ""))
    except (ValueError, KeyError, AttributeError, TypeError):
        return BadResponseError(f"{client.url} refused the stream with HTTP {status}")
    if status == 401 and client.login_hint:
        message += f": run {client.login_hint}"
    return RemoteError(code, message, status, error.get("details") or None)
