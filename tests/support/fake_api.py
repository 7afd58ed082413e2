"""A stand-in for a MACHETE server (or for what is not one): answers every request with what
the test set, so the CLI's client can be shown to handle other versions, error pages and TLS."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Answer:
    def __init__(self) -> None:
        self.status = 200
        self.headers: dict[str, str] = {"Machete-API-Version": "1"}
        self.body: bytes = b"{}"
        self.requests: list[tuple[str, str, dict[str, str]]] = []

    def json(self, data: Any, status: int = 200) -> None:
        self.status, self.body = status, json.dumps(data).encode()
        self.headers["Content-Type"] = "application/json"


@contextmanager
def fake_api(tls_context: ssl.SSLContext | None = None) -> Iterator[tuple[str, Answer]]:
    answer = Answer()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            answer.requests.append((self.command, self.path, dict(self.headers)))
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            self.send_response(answer.status)
            for key, value in answer.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls_context is not None:
        server.socket = tls_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if tls_context else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}", answer
    finally:
        server.shutdown()
        server.server_close()
