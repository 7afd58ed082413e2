"""The tarball source over real loopback HTTP: guard, credentials, errors."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from machete_core.domain.records import Locator
from machete_core.errors import MacheteError
from machete_core.secrets import Credentials
from machete_core.settings import Settings
from machete_plugins.tarball_source import TarballSource, handles
from tests.conftest import LOOPBACK
from tests.support.archives import tool_tar

SECRET = "archive-pass-123"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        expected = "Basic " + base64.b64encode(f"bob:{SECRET}".encode()).decode()
        if self.path.startswith("/private/") and self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if not self.path.endswith(".tar.gz"):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = tool_tar()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def base() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def source(tmp_path: Path, networks: tuple[str, ...] = LOOPBACK) -> TarballSource:
    return TarballSource(
        Settings(
            home=tmp_path / "home", allowed_schemes=frozenset({"http"}), allowed_networks=networks
        )
    )


def test_handles() -> None:
    assert (
        handles("https://x/a.tar.gz")
        and handles("https://x/a.zip?x=1")
        and handles("upload:sha256:0")
    )
    assert not handles("https://x/repo.git") and not handles("https://x/repo")


def test_download_and_digest(tmp_path: Path, base: str) -> None:
    dest = tmp_path / "w"
    dest.mkdir()
    rev = source(tmp_path).fetch(Locator(url=f"{base}/t.tar.gz"), dest, lambda line: None)
    assert (
        (dest / "Dockerfile").is_file() and rev.commit is None and rev.digest.startswith("sha256:")
    )


def test_loopback_needs_the_allow_list(tmp_path: Path, base: str) -> None:
    dest = tmp_path / "w"
    dest.mkdir()
    with pytest.raises(MacheteError) as info:
        source(tmp_path, networks=()).fetch(
            Locator(url=f"{base}/t.tar.gz"), dest, lambda line: None
        )
    assert info.value.code == "address_not_allowed"


def test_private_archive_with_credentials(tmp_path: Path, base: str) -> None:
    lines: list[str] = []
    dest = tmp_path / "w"
    dest.mkdir()
    with pytest.raises(MacheteError) as info:
        source(tmp_path).fetch(Locator(url=f"{base}/private/t.tar.gz"), dest, lines.append)
    assert info.value.code == "source_failed" and "401" in info.value.message
    creds = Credentials(username="bob", password=SECRET)
    source(tmp_path).fetch(
        Locator(url=f"{base}/private/t.tar.gz", credentials=creds), dest, lines.append
    )
    assert (dest / "Dockerfile").is_file()
    assert SECRET not in "".join(lines) and SECRET not in repr(Locator(url="x", credentials=creds))


def test_missing_archive(tmp_path: Path, base: str) -> None:
    dest = tmp_path / "w"
    dest.mkdir()
    with pytest.raises(MacheteError) as info:
        source(tmp_path).fetch(Locator(url=f"{base}/missing.zip"), dest, lambda line: None)
    assert "404" in info.value.message
