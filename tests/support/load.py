"""A client that keeps requesting a URL while a test changes what serves it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.http import request


@contextmanager
def hammering(url: str, pause: float = 0.01) -> Iterator[list[tuple[int, bytes]]]:
    """Request ``url`` over and over until the block ends; yields every ``(status, body)``
    (status 0 with the error for a request that failed below HTTP)."""
    results: list[tuple[int, bytes]] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                results.append(request(url, timeout=10))
            except OSError as exc:
                results.append((0, str(exc).encode()))
            time.sleep(pause)

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        yield results
    finally:
        stop.set()
        thread.join(timeout=30)
