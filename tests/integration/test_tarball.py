"""Tools from archives: a file or stdin in the CLI, a streamed upload over HTTP, a URL."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from machete_core.machete import Machete
from tests.integration.conftest import owned_objects
from tests.support.archives import file, tar_bytes, zip_bytes
from tests.support.cli import run_cli as cli
from tests.support.http import auth_headers, get_text
from tests.support.images import http_tool_files
from tests.support.server import call, running_server, wait_op


def tool_archive(body: str, fmt: str = "w:gz", prefix: str = "tool-1.0/") -> bytes:
    tree = {k: v.encode() for k, v in http_tool_files(body).items()}
    if fmt == "zip":
        return zip_bytes({prefix + k: v for k, v in tree.items()})
    return tar_bytes([file(prefix + k, v) for k, v in tree.items()], fmt)


def test_cli_file_and_stdin(
    env: dict[str, str], tmp_path: Path, busybox_image: str, installation: str
) -> None:
    archive = tmp_path / "hello-tool-1.0.tar.gz"
    archive.write_bytes(tool_archive("from a file"))
    out = cli(env, "install", str(archive), "--name", "fromfile")
    assert "stripped the wrapping folder tool-1.0/" in out.stdout
    status = json.loads(cli(env, "status", "fromfile", "--json").stdout)
    assert get_text(status["url"] + "/") == "from a file\n"

    # The same content again, repacked as zip: same digest, nothing rebuilt.
    zipped = tmp_path / "again.zip"
    zipped.write_bytes(tool_archive("from a file", fmt="zip", prefix="other-wrapper/"))
    again = cli(env, "deploy", "fromfile", "--archive", str(zipped))
    assert "already runs this exact source and spec" in again.stdout

    # New content through stdin.
    proc = subprocess.run(
        [sys.executable, "-m", "machete_cli", "deploy", "fromfile", "--archive", "-"],
        input=tool_archive("from stdin", fmt="w:xz"),
        capture_output=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    status = json.loads(cli(env, "status", "fromfile", "--json").stdout)
    assert status["release"] == 2 and get_text(status["url"] + "/") == "from stdin\n"
    assert status["source_url"].startswith("upload:sha256:")
    cli(env, "rm", "fromfile")
    assert owned_objects(installation) == ([], [])


def test_cli_stdin_install_named_by_manifest(env: dict[str, str], busybox_image: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "machete_cli", "install", "-"],
        input=tool_archive("piped", fmt="w:bz2"),
        capture_output=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(cli(env, "ls", "--json").stdout)[0]["name"] == "hello-tool"


def test_hostile_archive_is_refused_with_its_code(
    env: dict[str, str], tmp_path: Path, busybox_image: str
) -> None:
    bad = tmp_path / "bad.tar"
    bad.write_bytes(tar_bytes([file("Dockerfile", b"FROM x\n"), file("../escape", b"x")]))
    out = subprocess.run(
        [sys.executable, "-m", "machete_cli", "install", str(bad), "--name", "bad"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert out.returncode == 1 and "error [archive_path_traversal]" in out.stderr
    assert "'../escape'" in out.stderr
    assert not (tmp_path / "escape").exists()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def archive_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", root
    srv.shutdown()
    srv.server_close()


def test_install_from_an_archive_url(machete: Machete, archive_server: tuple[str, Path]) -> None:
    base, root = archive_server
    (root / "tool.tar.gz").write_bytes(tool_archive("from a url"))
    op = machete.install(f"{base}/tool.tar.gz")
    assert op.tool_name == "hello-tool"  # named by its manifest
    assert get_text(machete.get("hello-tool").url + "/") == "from a url\n"
    release = machete.releases("hello-tool")[0]
    assert release.commit is None and release.digest and release.digest.startswith("sha256:")


@pytest.fixture
def server(env: dict[str, str], busybox_image: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    with running_server({**env, "MACHETE_ARCHIVE_MAX_BYTES": str(32 * 1024**2)}) as running:
        yield running


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def stream_upload(
    base: str, path: str, chunks: Iterator[bytes], content_type: str
) -> tuple[int, dict[str, object]]:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    try:
        conn.putrequest("POST", path)
        conn.putheader("Content-Type", content_type)
        for key, value in auth_headers(base).items():
            conn.putheader(key, value)
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        try:
            for chunk in chunks:
                conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            conn.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer 413 and close before reading everything
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def test_http_upload_streams_and_oversize_is_413(server: tuple[str, subprocess.Popen[str]]) -> None:
    base, proc = server
    status, body = stream_upload(
        base, "/api/tools?name=uploaded", iter([tool_archive("uploaded")]), "application/gzip"
    )
    assert status == 202, body
    assert wait_op(base, str(body["operation_id"]))["status"] == "succeeded"
    tool = call("GET", f"{base}/api/tools/uploaded")[1]["tool"]
    assert get_text(tool["url"] + "/") == "uploaded\n"

    before = peak_rss_kib(proc.pid)
    one_mib = os.urandom(1024 * 1024)
    status, body = stream_upload(
        base,
        "/api/tools/uploaded/deploy",
        (one_mib for _ in range(200)),
        "application/octet-stream",
    )
    assert status == 413 and body["error"]["code"] == "archive_too_large"  # type: ignore[index]
    growth_mib = (peak_rss_kib(proc.pid) - before) / 1024
    assert growth_mib < 50, growth_mib  # 200 MiB went by; the server never held it
    assert call("GET", f"{base}/api/health")[0] == 200  # and it keeps serving
    assert call("GET", f"{base}/api/tools/uploaded")[1]["tool"]["release"] == 1
    assert not [p for p in Path(os.environ.get("TMPDIR", "/tmp")).glob("machete-zip-*")]

    status, body = call("DELETE", f"{base}/api/tools/uploaded")
    assert wait_op(base, str(body["operation_id"]))["status"] == "succeeded"
