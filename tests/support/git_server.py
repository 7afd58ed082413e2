"""A real Git smart-HTTP server on loopback: ``git http-backend`` behind a tiny CGI host."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

GIT = shutil.which("git") or "git"


class _Handler(BaseHTTPRequestHandler):
    server: GitHTTPServer

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self._cgi()

    def do_POST(self) -> None:
        self._cgi()

    def _cgi(self) -> None:
        self.server.requests.append((self.command, self.path))
        if self.server.auth is not None:
            import base64

            user, password = self.server.auth
            expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if b"want " in body:  # an object fetch (ls-remote and ls-refs carry no wants)
            self.server.fetches += 1
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": parts.path,
            "QUERY_STRING": parts.query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0],
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        proc = subprocess.run(
            [GIT, "http-backend"], input=body, env=env, capture_output=True, check=False
        )
        self.server.bytes_sent += len(proc.stdout)
        head, _sep, payload = proc.stdout.partition(b"\r\n\r\n")
        status = 200
        headers: list[tuple[str, str]] = []
        for line in head.split(b"\r\n"):
            if b":" not in line:
                continue
            key, _s, value = line.decode("latin-1").partition(":")
            if key.lower() == "status":
                status = int(value.strip().split()[0])
            else:
                headers.append((key, value.strip()))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class GitHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path, auth: tuple[str, str] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root
        self.auth = auth
        self.requests: list[tuple[str, str]] = []
        self.bytes_sent = 0
        self.fetches = 0
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def url(self, repo: str) -> str:
        return f"{self.base_url}/{repo}"

    def start(self) -> GitHTTPServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def git(*args: str, cwd: Path) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(cwd),
    }
    out = subprocess.run([GIT, *args], cwd=cwd, env=env, capture_output=True, check=True, text=True)
    return out.stdout.strip()


def make_repo(root: Path, name: str, files: dict[str, str], *, branch: str = "main") -> Path:
    """Create ``<root>/<name>.git`` (bare, served) from ``files`` committed on ``branch``."""
    work = root / f"{name}-work"
    work.mkdir(parents=True)
    git("init", "-q", "-b", branch, ".", cwd=work)
    write_files(work, files)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "initial", cwd=work)
    bare = root / f"{name}.git"
    git("clone", "-q", "--bare", str(work), str(bare), cwd=root)
    git("remote", "add", "served", str(bare), cwd=work)
    return work


def write_files(work: Path, files: dict[str, str]) -> None:
    for rel, content in files.items():
        path = work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def commit_and_push(
    work: Path, files: dict[str, str], message: str = "change", branch: str = "main"
) -> str:
    write_files(work, files)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", message, cwd=work)
    git("push", "-q", "served", branch, cwd=work)
    return git("rev-parse", "HEAD", cwd=work)
