"""A private repository behind basic auth: the secret reaches nothing but the Git server."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from machete_core.domain.naming import image_repository
from tests.support.cli import run_cli as machete
from tests.support.git_server import GitHTTPServer, make_repo
from tests.support.images import http_tool_files
from tests.support.server import call, running_server

SECRET = "s3cret-Token-9f8e7d6c"


@pytest.fixture
def private_server(tmp_path: Path) -> Iterator[GitHTTPServer]:
    root = tmp_path / "private"
    root.mkdir()
    srv = GitHTTPServer(root, auth=("alice", SECRET)).start()
    yield srv
    srv.stop()


def grep_tree(root: Path, needle: bytes) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
            hits.append(str(path))
    return hits


def test_secret_appears_nowhere(
    env: dict[str, str],
    private_server: GitHTTPServer,
    busybox_image: str,
    home: Path,
    tmp_path: Path,
) -> None:
    make_repo(private_server.root, "private", http_tool_files("private tool"))
    url = private_server.url("private.git")

    # Without credentials: a clear refusal, not a crash.
    denied = machete(env, "install", url, "--name", "nope", check=False)
    assert denied.returncode == 1 and "source_failed" in denied.stderr

    # Credentials inside the URL: refused with advice.
    inline = machete(env, "install", url.replace("http://", f"http://alice:{SECRET}@"), check=False)
    assert (
        inline.returncode == 1
        and "--password-stdin" in inline.stderr
        and SECRET not in inline.stderr
    )

    # A wrong password: the error names neither secret.
    wrong = machete(
        env,
        "install",
        url,
        "--username",
        "alice",
        "--password-stdin",
        "--name",
        "wrong",
        stdin="not-the-secret-at-all\n",
        check=False,
    )
    assert wrong.returncode == 1 and "not-the-secret-at-all" not in wrong.stdout + wrong.stderr

    outputs = [denied.stderr, wrong.stdout + wrong.stderr]
    env_with = {**env, "TOOL_TOKEN": SECRET}
    installed = machete(
        env_with,
        "install",
        url,
        "--username",
        "alice",
        "--password-env",
        "TOOL_TOKEN",
        "--name",
        "private",
        "--json",
    )
    outputs.append(installed.stdout + installed.stderr)
    assert json.loads(installed.stdout)["status"] == "succeeded"
    deployed = machete(env, "deploy", "private", "--force", "--json")  # credentials from the store
    outputs.append(deployed.stdout + deployed.stderr)
    for args in (
        ["ls", "--json"],
        ["status", "private", "--json"],
        ["operations", "--json"],
        ["releases", "private", "--json"],
        ["logs", "private"],
    ):
        outputs.append(machete(env, *args).stdout)

    # The HTTP API's answers.
    with running_server(env) as (base, _proc):
        for path in (
            "/api/tools",
            "/api/tools/private",
            "/api/operations",
            "/api/tools/private/releases",
        ):
            outputs.append(json.dumps(call("GET", base + path)[1]))
        ops = call("GET", base + "/api/operations")[1]["operations"]
        for op in ops:
            outputs.append(json.dumps(call("GET", f"{base}/api/operations/{op['id']}/log")[1]))
        assert any(op["params"].get("credentials") == "***" for op in ops)

    for text in outputs:
        assert SECRET not in text
    # State directory: database (and its WAL), operation logs, the Git cache and its config.
    assert (home / "machete.db").exists() and list((home / "cache" / "git").iterdir())
    assert grep_tree(home, SECRET.encode()) == []
    # The image: every layer and its config.
    saved = subprocess.run(
        ["docker", "save", f"{image_repository(env['MACHETE_INSTALLATION'], 'private')}:r2"],
        capture_output=True,
        check=True,
    ).stdout
    assert SECRET.encode() not in saved
    with tarfile.open(fileobj=io.BytesIO(saved)) as tar:
        assert tar.getmembers()
