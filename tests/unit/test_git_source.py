"""The dulwich source against a real Git smart-HTTP server on loopback (no Docker needed)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from machete_core.domain.records import Locator
from machete_core.errors import RefNotFoundError, SourceError
from machete_core.settings import Settings
from machete_plugins.git_source import GitSource
from tests.conftest import LOOPBACK
from tests.support.git_server import GitHTTPServer, commit_and_push, git, make_repo


@pytest.fixture
def server(tmp_path: Path) -> Iterator[GitHTTPServer]:
    srv = GitHTTPServer(tmp_path / "repos").start()
    (tmp_path / "repos").mkdir()
    yield srv
    srv.stop()


@pytest.fixture
def source(tmp_path: Path) -> GitSource:
    return GitSource(
        Settings(
            home=tmp_path / "home", allowed_schemes=frozenset({"http"}), allowed_networks=LOOPBACK
        )
    )


def fetch(source: GitSource, url: str, dest: Path, ref: str | None = None) -> tuple[Path, object]:
    dest.mkdir(parents=True)
    lines: list[str] = []
    rev = source.fetch(Locator(url=url, ref=ref), dest, lines.append)
    return dest, rev


def test_default_branch_main_and_resolve(
    server: GitHTTPServer, source: GitSource, tmp_path: Path
) -> None:
    work = make_repo(server.root, "tool", {"Dockerfile": "FROM x\n", "a/b.txt": "hello\n"})
    head = git("rev-parse", "HEAD", cwd=work)
    url = server.url("tool.git")
    assert source.resolve(Locator(url=url)) == head
    dest, rev = fetch(source, url, tmp_path / "w1")
    assert rev.commit == head and rev.ref == "refs/heads/main"  # type: ignore[attr-defined]
    assert (dest / "a" / "b.txt").read_text() == "hello\n"
    assert not (dest / ".git").exists()


def test_master_default_branch(server: GitHTTPServer, source: GitSource, tmp_path: Path) -> None:
    make_repo(server.root, "old", {"Dockerfile": "FROM x\n"}, branch="master")
    _dest, rev = fetch(source, server.url("old.git"), tmp_path / "w")
    assert rev.ref == "refs/heads/master"  # type: ignore[attr-defined]


def test_branch_tag_and_commit(server: GitHTTPServer, source: GitSource, tmp_path: Path) -> None:
    work = make_repo(server.root, "refs", {"f": "v1\n"})
    first = git("rev-parse", "HEAD", cwd=work)
    git("tag", "-a", "v1", "-m", "v1", cwd=work)
    git("push", "-q", "served", "v1", cwd=work)
    git("checkout", "-q", "-b", "feature", cwd=work)
    commit_and_push(work, {"f": "feature\n"}, branch="feature")
    git("checkout", "-q", "main", cwd=work)
    second = commit_and_push(work, {"f": "v2\n"})
    url = server.url("refs.git")
    assert (fetch(source, url, tmp_path / "a")[0] / "f").read_text() == "v2\n"
    assert (fetch(source, url, tmp_path / "b", "feature")[0] / "f").read_text() == "feature\n"
    dest, rev = fetch(source, url, tmp_path / "c", "v1")
    assert (dest / "f").read_text() == "v1\n" and rev.commit == first  # type: ignore[attr-defined]
    assert (fetch(source, url, tmp_path / "d", first)[0] / "f").read_text() == "v1\n"
    assert (fetch(source, url, tmp_path / "e", first[:10])[0] / "f").read_text() == "v1\n"
    assert source.resolve(Locator(url=url, ref="v1")) == first
    assert source.resolve(Locator(url=url)) == second


def test_unknown_ref_lists_branches(
    server: GitHTTPServer, source: GitSource, tmp_path: Path
) -> None:
    make_repo(server.root, "one", {"f": "x"})
    with pytest.raises(RefNotFoundError) as info:
        fetch(source, server.url("one.git"), tmp_path / "w", "nope")
    assert "main" in info.value.message


def test_missing_repository_is_a_source_error(
    server: GitHTTPServer, source: GitSource, tmp_path: Path
) -> None:
    with pytest.raises(SourceError) as info:
        fetch(source, server.url("missing.git"), tmp_path / "w")
    # What the server said, for a person, never a bare library class name.
    assert "no Git repository there (HTTP 404)" in info.value.message
    assert "NotGitRepository" not in info.value.message


class _AsksForPassword(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # the standard library's name
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="git"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_a_server_asking_for_credentials_says_how_to_give_them(
    source: GitSource, tmp_path: Path
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AsksForPassword)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(SourceError) as info:
            fetch(source, f"http://127.0.0.1:{server.server_address[1]}/p.git", tmp_path / "w")
    finally:
        server.shutdown()
    assert "asks for authentication (HTTP 401)" in info.value.message
    assert "--password-stdin" in info.value.message


def test_nothing_listening_is_said_plainly(source: GitSource, tmp_path: Path) -> None:
    probe = ThreadingHTTPServer(("127.0.0.1", 0), _AsksForPassword)
    port = probe.server_address[1]
    probe.server_close()
    with pytest.raises(SourceError, match="connection refused"):
        fetch(source, f"http://127.0.0.1:{port}/p.git", tmp_path / "w")


def test_redeploy_fetch_reuses_the_cache(
    server: GitHTTPServer, source: GitSource, tmp_path: Path
) -> None:
    # Random content does not compress, so the first pack is clearly larger than one commit.
    work = make_repo(
        server.root, "big", {f"file{i}.txt": os.urandom(8000).hex() for i in range(40)}
    )
    url = server.url("big.git")
    before = server.bytes_sent
    fetch(source, url, tmp_path / "a")
    first = server.bytes_sent - before
    commit_and_push(work, {"new.txt": "one new file\n"})
    before = server.bytes_sent
    _dest, rev = fetch(source, url, tmp_path / "b")
    second = server.bytes_sent - before
    assert rev.commit == git("rev-parse", "HEAD", cwd=work)  # type: ignore[attr-defined]
    assert second < first / 3, (first, second)
    assert server.fetches == 2


def test_digest_ignores_order_and_changes_with_content(
    server: GitHTTPServer, source: GitSource, tmp_path: Path
) -> None:
    work = make_repo(server.root, "dg", {"a": "1", "b": "2"})
    url = server.url("dg.git")
    _d1, r1 = fetch(source, url, tmp_path / "1")
    _d2, r2 = fetch(source, url, tmp_path / "2")
    assert r1.digest == r2.digest  # type: ignore[attr-defined]
    commit_and_push(work, {"a": "changed"})
    _d3, r3 = fetch(source, url, tmp_path / "3")
    assert r3.digest != r1.digest  # type: ignore[attr-defined]
