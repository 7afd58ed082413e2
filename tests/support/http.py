"""Tiny HTTP helpers for tests (stdlib only, never through a proxy)."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

#: The bearer token to send to each server (``host:port``), for servers tests started.
TOKENS: dict[str, str] = {}


def auth_headers(url: str) -> dict[str, str]:
    """The ``Authorization`` header of the server at ``url``, if a test registered one."""
    token = TOKENS.get(urlsplit(url).netloc)
    return {"Authorization": f"Bearer {token}"} if token else {}


def request(
    url: str, method: str = "GET", body: Any = None, timeout: float = 10, follow: int = 3
) -> tuple[int, bytes]:
    """One request; 307/308 redirects (the API origin sends tools' URLs to the tools
    listener) are followed ``follow`` times, keeping the method and body."""
    status, location, data = _once(url, method, body, timeout)
    while status in (307, 308) and location and follow > 0:
        follow -= 1
        status, location, data = _once(location, method, body, timeout)
    return status, data


def _once(url: str, method: str, body: Any, timeout: float) -> tuple[int, str | None, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        headers.update(auth_headers(url))
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, path or "/", body=payload, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Location"), resp.read()
    finally:
        conn.close()


def get_text(url: str) -> str:
    status, body = request(url)
    assert status == 200, (url, status, body[:200])
    return body.decode()


def get_json(url: str) -> Any:
    status, body = request(url)
    return status, json.loads(body)
