"""Hostile Git repositories built object by object with dulwich, served over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest
from dulwich.objects import Blob, Commit, Tree
from dulwich.repo import Repo

from machete_core.domain.records import Locator
from machete_core.errors import MacheteError
from machete_core.settings import Settings
from machete_plugins.git_source import GitSource
from tests.conftest import LOOPBACK
from tests.support.git_server import GitHTTPServer

SYMLINK_MODE = 0o120000
FILE_MODE = 0o100644
TREE_MODE = 0o040000


def make_bare(root: Path, name: str, entries: list[tuple[bytes, int, bytes]]) -> None:
    """A bare repository whose single commit has exactly these raw tree entries."""
    repo = Repo.init_bare(str(root / f"{name}.git"), mkdir=True)
    tree = Tree()
    for path, mode, content in entries:
        if mode == TREE_MODE:
            sub = Tree()
            blob = Blob.from_string(content)
            repo.object_store.add_object(blob)
            sub.add(b"inner", FILE_MODE, blob.id)
            repo.object_store.add_object(sub)
            tree.add(path, TREE_MODE, sub.id)
        else:
            blob = Blob.from_string(content)
            repo.object_store.add_object(blob)
            tree.add(path, mode, blob.id)
    repo.object_store.add_object(tree)
    commit = Commit()
    commit.tree = tree.id
    commit.author = commit.committer = b"t <t@example.invalid>"
    commit.author_time = commit.commit_time = int(time.time())
    commit.author_timezone = commit.commit_timezone = 0
    commit.message = b"hostile"
    repo.object_store.add_object(commit)
    repo.refs[b"refs/heads/main"] = commit.id
    repo.refs.set_symbolic_ref(b"HEAD", b"refs/heads/main")
    repo.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[GitHTTPServer]:
    (tmp_path / "repos").mkdir()
    srv = GitHTTPServer(tmp_path / "repos").start()
    yield srv
    srv.stop()


def fetch(tmp_path: Path, url: str, **settings: object) -> Path:
    dest = tmp_path / "box" / "work"
    dest.mkdir(parents=True)
    source = GitSource(
        Settings(
            home=tmp_path / "home",
            allowed_schemes=frozenset({"http"}),
            allowed_networks=LOOPBACK,
            **settings,
        )
    )  # type: ignore[arg-type]
    try:
        source.fetch(Locator(url=url), dest, lambda line: None)
    except MacheteError:
        pass  # refusing is fine; writing outside is not
    return dest


def everything_under(path: Path) -> set[str]:
    return {p.relative_to(path).as_posix() for p in path.rglob("*")}


@pytest.mark.parametrize(
    "bad",
    [b".git", b"..", b"git~1", b".GIT", b".gi\xe2\x80\x8ct", b".git "],
)
def test_tree_entries_that_alias_git_metadata(
    tmp_path: Path, server: GitHTTPServer, bad: bytes
) -> None:
    make_bare(
        server.root, "r", [(b"Dockerfile", FILE_MODE, b"FROM x\n"), (bad, TREE_MODE, b"evil hook")]
    )
    dest = fetch(tmp_path, server.url("r.git"))
    assert not any(
        ".git" in part.lower() or "git~1" in part.lower() for part in everything_under(dest)
    )
    assert everything_under(tmp_path / "box") <= {"work"} | {
        f"work/{p}" for p in everything_under(dest)
    }


def test_path_with_slashes_and_dotdot_in_a_tree_entry(
    tmp_path: Path, server: GitHTTPServer
) -> None:
    make_bare(
        server.root,
        "r",
        [(b"Dockerfile", FILE_MODE, b"FROM x\n"), (b"../../escaped", FILE_MODE, b"x")],
    )
    fetch(tmp_path, server.url("r.git"))
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "box" / "escaped").exists()


def test_symlink_then_write_through_it(tmp_path: Path, server: GitHTTPServer) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    make_bare(
        server.root,
        "r",
        [
            (b"Dockerfile", FILE_MODE, b"FROM x\n"),
            (b"l", SYMLINK_MODE, str(outside).encode()),
            (b"l/pwn", FILE_MODE, b"written through the link"),
        ],
    )
    fetch(tmp_path, server.url("r.git"))
    assert list(outside.iterdir()) == []


def test_submodules_are_never_fetched(tmp_path: Path, server: GitHTTPServer) -> None:
    gitmodules = b'[submodule "x"]\n\tpath = .git/hooks\n\turl = file:///etc\n'
    make_bare(
        server.root,
        "r",
        [(b"Dockerfile", FILE_MODE, b"FROM x\n"), (b".gitmodules", FILE_MODE, gitmodules)],
    )
    before = len(server.requests)
    dest = fetch(tmp_path, server.url("r.git"))
    assert (dest / "Dockerfile").exists() and not (dest / ".git").exists()
    assert all(path.startswith("/r.git/") for _m, path in server.requests[before:])


def test_fetch_size_limit(tmp_path: Path, server: GitHTTPServer) -> None:
    import os

    make_bare(server.root, "big", [(b"blob", FILE_MODE, os.urandom(2 * 1024 * 1024))])
    source = GitSource(
        Settings(
            home=tmp_path / "home",
            allowed_schemes=frozenset({"http"}),
            allowed_networks=LOOPBACK,
            fetch_max_bytes=256 * 1024,
        )
    )
    dest = tmp_path / "w"
    dest.mkdir()
    with pytest.raises(MacheteError) as info:
        source.fetch(Locator(url=server.url("big.git")), dest, lambda line: None)
    assert info.value.code == "fetch_limit"


def test_dulwich_floor_carries_the_security_fixes() -> None:
    installed = tuple(int(p) for p in version("dulwich").split(".")[:3])
    assert installed >= (1, 2, 12)
