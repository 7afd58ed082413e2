"""The tests' port picker: below the kernel's ephemeral range (where outgoing connections
take their local ports), free, and never the same twice in one process."""

from __future__ import annotations

import socket

import pytest

from tests.support import ports


def test_ports_are_free_distinct_and_below_the_ephemeral_range() -> None:
    top = ports._ephemeral_start()
    picked = [ports.free_port() for _ in range(200)]
    assert len(set(picked)) == len(picked)
    assert all(ports._LOWEST <= port < top for port in picked)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", picked[-1]))  # nothing holds it


def test_a_port_in_use_is_never_picked(monkeypatch: pytest.MonkeyPatch) -> None:
    held = []
    try:
        for _ in range(200):
            sock = socket.socket()
            sock.bind(("127.0.0.1", ports.free_port()))
            sock.listen()
            held.append(sock)
        in_use = {sock.getsockname()[1] for sock in held}
        # Forget what was handed out: only the bind check keeps held ports away now.
        monkeypatch.setattr(ports, "_handed_out", set())
        assert not in_use & {ports.free_port() for _ in range(1000)}
    finally:
        for sock in held:
            sock.close()
