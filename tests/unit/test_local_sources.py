"""Installing from a folder: a plain folder goes as an archive of its current files; a Git
working tree deploys what is committed and says when changes are left out (or, --dirty, its
files as they are)."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from machete_cli.local_sources import archive_folder, folder_to_send, uncommitted_changes
from tests.support.git_server import git


def _names(stream: object) -> set[str]:
    with tarfile.open(fileobj=stream, mode="r:gz") as tar:  # type: ignore[call-overload]
        return set(tar.getnames())


def test_a_plain_folder_is_sent_as_its_files(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM x\n")
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text("hi\n")
    sent = folder_to_send(str(tmp_path), dirty=False)
    assert sent is not None and _names(sent) == {"Dockerfile", "www/index.html"}


def test_a_clean_working_tree_installs_as_git(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    git("init", "-q", "-b", "main", ".", cwd=tmp_path)
    (tmp_path / "Dockerfile").write_text("FROM x\n")
    git("add", "-A", cwd=tmp_path)
    git("commit", "-q", "-m", "one", cwd=tmp_path)
    assert uncommitted_changes(tmp_path) == []
    assert folder_to_send(str(tmp_path), dirty=False) is None
    assert "uncommitted" not in capsys.readouterr().err


def test_uncommitted_changes_are_said_and_dirty_sends_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    git("init", "-q", "-b", "main", ".", cwd=tmp_path)
    (tmp_path / "Dockerfile").write_text("FROM x\n")
    git("add", "-A", cwd=tmp_path)
    git("commit", "-q", "-m", "one", cwd=tmp_path)
    (tmp_path / "Dockerfile").write_text("FROM y\n")
    (tmp_path / "new.txt").write_text("new\n")
    assert uncommitted_changes(tmp_path) == ["Dockerfile", "new.txt"]
    assert folder_to_send(str(tmp_path), dirty=False) is None
    err = capsys.readouterr().err
    assert "uncommitted changes are not deployed (Dockerfile, new.txt)" in err and "--dirty" in err
    sent = folder_to_send(str(tmp_path), dirty=True)
    assert sent is not None
    names = _names(sent)
    assert names == {"Dockerfile", "new.txt"}  # the files as they are, never .git


def test_links_are_kept_as_links_for_the_server_to_judge(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM x\n")
    (tmp_path / "out").symlink_to("/etc")
    with tarfile.open(fileobj=archive_folder(tmp_path), mode="r:gz") as tar:
        link = tar.getmember("out")
    assert link.issym() and link.linkname == "/etc"


def test_through_a_server_a_working_tree_is_sent_as_its_commit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A server elsewhere cannot read this folder: its committed files go as an archive
    (``git archive``), and what is not committed is named, as in local mode."""
    git("init", "-q", "-b", "main", ".", cwd=tmp_path)
    (tmp_path / "Dockerfile").write_text("FROM x\n")
    (tmp_path / "app.py").write_text("print(1)\n")
    git("add", "-A", cwd=tmp_path)
    git("commit", "-q", "-m", "one", cwd=tmp_path)
    (tmp_path / "app.py").write_text("print(2)\n")
    (tmp_path / "notes.txt").write_text("draft\n")
    sent = folder_to_send(str(tmp_path), dirty=False, committed_only=True)
    assert sent is not None
    with tarfile.open(fileobj=sent, mode="r:gz") as tar:
        assert {m.name for m in tar.getmembers() if m.isfile()} == {"Dockerfile", "app.py"}
        body = tar.extractfile("app.py")
        assert body is not None and body.read() == b"print(1)\n"  # the commit, not the edit
    warning = capsys.readouterr().err
    assert "uncommitted changes are not deployed (app.py, notes.txt)" in warning
