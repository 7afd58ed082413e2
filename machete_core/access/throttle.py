"""Failed sign-ins slow further ones down, per name and per address: after a few free
attempts each further one must wait twice as long as the last (up to 15 minutes), never a hard
lockout that would let anyone lock a person out. Failures are rows in the database, so every
server on it agrees."""

from __future__ import annotations

import math

from machete_core.errors import TooManyAttemptsError
from machete_core.state.store import Store

#: Failures older than this no longer count.
WINDOW_S = 3600.0
MAX_DELAY_S = 900.0
#: An address may fail this many times more than one name before it is slowed down (several
#: people behind one NAT).
ADDRESS_FACTOR = 4


def keys(name: str, address: str | None) -> tuple[str, ...]:
    out = [f"user:{name.lower()[:150]}"]
    if address:
        out.append(f"addr:{address}")
    return tuple(out)


def check(store: Store, name: str, address: str | None, free: int, now: float) -> None:
    wait = 0.0
    for key in keys(name, address):
        allowed = free * (ADDRESS_FACTOR if key.startswith("addr:") else 1)
        count, last = store.failures(key, now - WINDOW_S)
        if count >= allowed and last is not None:
            delay = min(2.0 ** (count - allowed), MAX_DELAY_S)
            wait = max(wait, last + delay - now)
    if wait > 0:
        seconds = math.ceil(wait)
        raise TooManyAttemptsError(
            f"too many failed sign-ins; try again in {seconds} s",
            details={"retry_after": seconds},
        )


def failed(store: Store, name: str, address: str | None, now: float) -> None:
    store.add_failure(keys(name, address), now)


def succeeded(store: Store, name: str) -> None:
    store.clear_failures(keys(name, None)[0])
