"""Operation leases across processes: heartbeats, expiry, cancel requests, waiting."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest

from machete_core.domain.operations import SYSTEM
from machete_core.errors import ToolBusyError
from machete_core.leases import holder_process_gone
from machete_core.machete import Machete, create_machete
from machete_core.settings import Settings
from machete_core.state.views import OperationRecord

LEASE_S = 0.6


@pytest.fixture
def short(settings: Settings) -> Settings:
    return attrs.evolve(settings, lease_seconds=LEASE_S)


@pytest.fixture
def pair(short: Settings) -> Iterator[tuple[Machete, Machete]]:
    """Two Machete objects on one state: two holders, as two processes would be."""
    a, b = create_machete(short), create_machete(short)
    a.store.create_tool(name="t", source_kind="git", source_url="https://x/t.git")
    # Both open (and check the schema) now: a first open inside a test's 0.6 s lease window
    # could hold the database long enough on a loaded machine to make a's lease run out.
    b.check_database()
    yield a, b
    a.close()
    b.close()


def until(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_held_operation_stays_alive_past_its_first_lease(pair: tuple[Machete, Machete]) -> None:
    a, b = pair
    op = a.submit("stop", "t")
    assert op.holder is not None and op.lease_expires_at is not None
    time.sleep(LEASE_S * 3)  # several leases long: only heartbeats keep it
    seen_by_b = b.operation(op.id)
    assert seen_by_b.lease_expires_at > time.time()  # type: ignore[operator]
    assert b.holder_alive(seen_by_b)
    with pytest.raises(ToolBusyError) as busy:
        b.submit("start", "t")
    assert busy.value.http_status == 409 and busy.value.details["operation"] == op.id


def test_a_holder_that_stops_renewing_loses_its_operation(pair: tuple[Machete, Machete]) -> None:
    a, b = pair
    op = a.submit("stop", "t")
    a.core.leases.stop()  # as if the process hung or its host vanished: no more heartbeats
    until(lambda: not b.holder_alive(b.operation(op.id)))
    taken = b.submit("start", "t")  # the expired one is ended as abandoned, not waited for
    assert b.operation(op.id).error_code == "abandoned"
    assert taken.status == "pending"
    # The old holder learns it lost the operation at its next heartbeat and stops.
    token = a.core.cancels[op.id]
    a.core.leases.renew_now()
    assert token.cancelled


def test_an_unexpired_lease_of_another_host_is_respected(pair: tuple[Machete, Machete]) -> None:
    a, _b = pair
    tool = a.store.get_tool("t")
    op = a.store.create_operation(
        actor=SYSTEM,
        id="far",
        kind="deploy",
        tool_id=tool.id,
        tool_name="t",
        log_path="/dev/null",
        holder="some-other-host:1:abcd",
        lease_expires_at=time.time() + 60,
    )
    assert a.holder_alive(a.operation(op.id))
    a.store.update_operation(op.id, lease_expires_at=time.time() - 1)
    assert not a.holder_alive(a.operation(op.id))


def test_cancel_reaches_the_holder_through_the_database(pair: tuple[Machete, Machete]) -> None:
    a, b = pair
    op = a.submit("stop", "t")
    token = a.core.cancels[op.id]
    assert b.cancel(op.id) is True  # b does not run it: it writes a request
    assert b.operation(op.id).cancel_requested
    until(lambda: token.cancelled, timeout=5)


def test_cancel_of_an_ended_operation_is_refused(pair: tuple[Machete, Machete]) -> None:
    a, b = pair
    op = a.submit("stop", "t")
    with pytest.raises(Exception):  # noqa: B017 - never deployed: the stop fails, and ends
        a.run(op.id)
    assert b.cancel(op.id) is False


def test_wait_takes_the_tool_when_the_other_operation_ends(pair: tuple[Machete, Machete]) -> None:
    a, b = pair
    first = a.submit("stop", "t")
    heard: list[OperationRecord] = []
    got: list[str] = []
    waiter = threading.Thread(
        target=lambda: got.append(b.submit("start", "t", wait=30, on_wait=heard.append).id)
    )
    waiter.start()
    until(lambda: heard != [])
    assert not got  # still waiting
    with pytest.raises(Exception):  # noqa: B017 - the stop fails (never deployed) and ends
        a.run(first.id)
    waiter.join(10)
    assert got and got[0] != first.id
    assert heard[0].id == first.id


def test_wait_gives_up_at_its_limit(pair: tuple[Machete, Machete]) -> None:
    a, b = pair
    a.submit("stop", "t")
    started = time.monotonic()
    with pytest.raises(ToolBusyError):
        b.submit("start", "t", wait=0.5)
    assert time.monotonic() - started >= 0.5


def test_a_dead_local_process_is_known_at_once() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    host = socket.gethostname()
    assert holder_process_gone(f"{host}:{proc.pid}:abcd")
    assert not holder_process_gone(f"{host}:{os.getpid()}:abcd")
    assert not holder_process_gone(f"elsewhere:{proc.pid}:abcd")


def test_cancel_from_another_process(short: Settings, tmp_path: Path) -> None:
    """A real second process holds an operation; this one cancels it."""
    m = create_machete(short)
    m.store.create_tool(name="t", source_kind="git", source_url="https://x/t.git")
    ready = tmp_path / "ready"
    script = f"""
import sys, time, attrs
from pathlib import Path
from machete_core.machete import create_machete
from machete_core.settings import Settings
settings = Settings(home={str(short.home)!r}, installation={short.installation!r},
                    database_url={short.database_url!r}, lease_seconds={LEASE_S})
m = create_machete(settings)
op = m.submit("stop", "t")
token = m.core.cancels[op.id]
Path({str(ready)!r} + ".tmp").write_text(op.id)
Path({str(ready)!r} + ".tmp").rename({str(ready)!r})  # whole, or not there at all
deadline = time.monotonic() + 20
while not token.cancelled and time.monotonic() < deadline:
    time.sleep(0.02)
sys.exit(0 if token.cancelled else 3)
"""
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        until(ready.exists, timeout=30)
        op_id = ready.read_text()
        assert m.holder_alive(m.operation(op_id))
        assert m.cancel(op_id) is True
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        m.close()


def test_an_operation_taken_from_its_holder_keeps_the_taker_s_verdict(
    pair: tuple[Machete, Machete],
) -> None:
    a, b = pair
    op = a.submit("stop", "t")
    a.core.leases.stop()
    until(lambda: not b.holder_alive(b.operation(op.id)))
    b.reconcile()  # ends it as abandoned
    assert b.operation(op.id).error_code == "abandoned"
    # The old holder comes back and finishes: its outcome does not overwrite the verdict.
    assert not a.store.finish_operation(op.id, a.holder_id, status="succeeded")
    assert a.operation(op.id).status == "failed"
