"""The SSRF guard: every address a source would connect to is checked, at connect time."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from unittest import mock

import pytest

from machete_core.domain.records import Locator
from machete_core.errors import AddressNotAllowedError, MacheteError, SourcePolicyError
from machete_core.settings import Settings
from machete_core.sources.netguard import AddressPolicy
from machete_plugins.git_source import GitSource


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "0.0.0.0",
        "::1",
        "::ffff:127.0.0.1",
        "fc00::1",
        "fe80::1",
        "224.0.0.1",
        "100.64.0.1",
        "not-an-ip",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not AddressPolicy().permits(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "151.101.1.69", "2a00:1450:4001:80b::200e"])
def test_public_addresses_pass(address: str) -> None:
    assert AddressPolicy().permits(address)


def test_allow_list() -> None:
    policy = AddressPolicy.from_strings(["10.0.0.0/8", "127.0.0.1"])
    assert (
        policy.permits("10.9.9.9")
        and policy.permits("127.0.0.1")
        and policy.permits("::ffff:10.0.0.1")
    )
    assert not policy.permits("127.0.0.2") and not policy.permits("192.168.0.1")


class _Redirect(BaseHTTPRequestHandler):
    target = ""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", self.target)
        self.send_header("Content-Length", "12")
        self.end_headers()
        self.wfile.write(b"secret-body!")


@pytest.fixture
def redirector() -> Iterator[tuple[ThreadingHTTPServer, int]]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Redirect)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv, srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def source(tmp_path: Path, networks: tuple[str, ...] = ()) -> GitSource:
    return GitSource(
        Settings(
            home=tmp_path, allowed_schemes=frozenset({"http", "https"}), allowed_networks=networks
        )
    )


@pytest.fixture
def connects() -> Iterator[list[object]]:
    """Every address any socket tries to connect to."""
    seen: list[object] = []
    real = socket.socket.connect

    def spy(self: socket.socket, address: object) -> None:
        seen.append(address)
        real(self, address)

    with mock.patch.object(socket.socket, "connect", spy):
        yield seen


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "2130706433",
        "0177.0.0.1",
        "0x7f.0.0.1",
        "[::ffff:127.0.0.1]",
        "localhost",
        "169.254.169.254",
    ],
)
def test_loopback_in_every_spelling_is_refused_before_connecting(
    tmp_path: Path, host: str, connects: list[object], redirector: tuple[ThreadingHTTPServer, int]
) -> None:
    _srv, port = redirector
    with pytest.raises(MacheteError) as info:
        source(tmp_path).resolve(Locator(url=f"http://{host}:{port}/repo.git"))
    # dulwich itself cannot parse a bracketed IPv6 URL; either way nothing connects.
    assert info.value.code in ("address_not_allowed", "source_failed")
    assert connects == []
    assert "secret" not in info.value.message


def test_every_dns_answer_is_checked(tmp_path: Path, connects: list[object]) -> None:
    answers = [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", 443)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", 443)),
    ]
    with mock.patch("socket.getaddrinfo", return_value=answers):
        with pytest.raises(AddressNotAllowedError):
            source(tmp_path).resolve(Locator(url="https://mixed.example/repo.git"))
    assert connects == []


def test_redirect_to_another_host_is_refused(
    tmp_path: Path, redirector: tuple[ThreadingHTTPServer, int]
) -> None:
    _srv, port = redirector
    _Redirect.target = f"http://localhost:{port}/elsewhere.git/info/refs"
    with pytest.raises(SourcePolicyError) as info:
        source(tmp_path, ("127.0.0.0/8", "::1/128")).resolve(
            Locator(url=f"http://127.0.0.1:{port}/r.git")
        )
    assert "redirect" in info.value.message and "secret" not in info.value.message


def test_redirect_loop_is_bounded(
    tmp_path: Path, redirector: tuple[ThreadingHTTPServer, int]
) -> None:
    _srv, port = redirector
    _Redirect.target = f"http://127.0.0.1:{port}/again"
    with pytest.raises(MacheteError):
        source(tmp_path, ("127.0.0.0/8",)).resolve(Locator(url=f"http://127.0.0.1:{port}/r.git"))
