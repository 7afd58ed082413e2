"""Operation leases: how processes sharing one database know who is working on what.

Every operation is recorded with its holder (``host:pid:instance``) and a lease expiry. While a
process holds operations, one :class:`LeaseKeeper` thread renews their leases every
``heartbeat`` seconds and, in the same round, picks up cancel requests that other processes
wrote into the database. A holder that dies stops renewing; once its lease has run out any
process may end the operation as abandoned and undo what it left (see reconcile.py).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid

from machete_core.domain.records import CancelToken
from machete_core.state.store import Store
from machete_core.state.views import OperationRecord

log = logging.getLogger(__name__)


def new_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def holder_process_gone(holder: str) -> bool:
    """True only when ``holder`` names a process of this host that no longer exists.

    A quicker answer than waiting for the lease to run out, for the common case of a CLI
    process killed on the same machine. Anything else (another host, no such field) is left
    to the lease.
    """
    host, _sep, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def lease_expired(op: OperationRecord, now: float | None = None) -> bool:
    return op.lease_expires_at is not None and op.lease_expires_at < (now or time.time())


class LeaseKeeper:
    """Renews this holder's leases and relays cancel requests to the operations' tokens."""

    def __init__(self, store: Store, holder: str, lease_seconds: float) -> None:
        self.store = store
        self.holder = holder
        self.lease_seconds = lease_seconds
        # Often enough that a cancel from another process lands within about a second.
        self.heartbeat = max(0.05, min(1.0, lease_seconds / 3))
        self._held: dict[str, CancelToken] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def hold(self, op_id: str, token: CancelToken) -> None:
        with self._lock:
            self._held[op_id] = token
            if self._thread is None or not self._thread.is_alive():
                self._stopping = False
                self._thread = threading.Thread(
                    target=self._loop, name="machete-lease-keeper", daemon=True
                )
                self._thread.start()

    def release(self, op_id: str) -> None:
        with self._lock:
            self._held.pop(op_id, None)

    def held(self, op_id: str) -> bool:
        with self._lock:
            return op_id in self._held

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def renew_now(self) -> None:
        with self._lock:
            held = dict(self._held)
        if not held:
            return
        verdicts = self.store.renew_leases(list(held), self.holder, self.lease_seconds)
        for op_id, verdict in verdicts.items():
            token = held[op_id]
            if not token.cancelled:
                log.warning("operation %s: %s; stopping it", op_id, verdict)
                token.cancel()

    def _loop(self) -> None:
        while not self._stopping:
            try:
                self.renew_now()
            except Exception:
                # A database hiccup must not kill the keeper; the next round tries again.
                log.exception("renewing operation leases failed")
            self._wake.wait(self.heartbeat)
            self._wake.clear()
