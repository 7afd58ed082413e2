"""Installing a fixture tool as a user does: a Git repository, then ``machete install``."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.support.cli import run_cli
from tests.support.git_server import GitHTTPServer, make_repo
from tests.support.images import http_tool_files


def installed_tool(
    env: dict[str, str],
    git_server: GitHTTPServer,
    name: str,
    body: str = "hello from the tool",
    files: dict[str, str] | None = None,
) -> Path:
    """Install ``files`` (default: the busybox HTTP tool serving ``body``) as ``name`` with
    the CLI; returns the repository's work tree, for new commits."""
    repo = f"{name}{uuid.uuid4().hex[:6]}"
    work = make_repo(git_server.root, repo, files or http_tool_files(body))
    run_cli(env, "install", git_server.url(f"{repo}.git"), "--name", name)
    return work
