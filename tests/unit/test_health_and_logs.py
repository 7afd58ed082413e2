from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from machete_core.domain.records import CancelToken, Endpoint
from machete_core.errors import CancelledError, HealthCheckError
from machete_core.health import probe, wait_healthy
from machete_core.oplog import OperationLog, read_log


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        code = 200 if self.path == "/health" else 503
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


@pytest.fixture
def server() -> Iterator[Endpoint]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield Endpoint("127.0.0.1", srv.server_address[1])
    srv.shutdown()
    srv.server_close()


def test_probe(server: Endpoint) -> None:
    assert probe(server, "/health").healthy
    bad = probe(server, "/other")
    assert not bad.healthy and bad.status_code == 503
    closed = probe(Endpoint("127.0.0.1", 9), "/health", timeout=1)
    assert not closed.healthy and closed.error


def test_wait_healthy_passes_and_times_out(server: Endpoint) -> None:
    assert wait_healthy(lambda: server, "/health", timeout=5, interval=0.05).status_code == 200
    with pytest.raises(HealthCheckError) as info:
        wait_healthy(lambda: server, "/other", timeout=0.3, interval=0.05)
    assert "HTTP 503" in info.value.message


def test_wait_healthy_fails_fast_when_the_instance_dies(server: Endpoint) -> None:
    with pytest.raises(HealthCheckError) as info:
        wait_healthy(
            lambda: server,
            "/other",
            timeout=60,
            interval=0.05,
            still_running=lambda: "stopped with code 1",
        )
    assert "stopped with code 1" in info.value.message


def test_wait_healthy_honours_cancel(server: Endpoint) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        wait_healthy(lambda: server, "/other", timeout=60, interval=0.05, cancel=token)


def test_log_is_appended_and_read_by_offset(tmp_path: Path) -> None:
    path = tmp_path / "op.log"
    seen: list[str] = []
    log = OperationLog(path)
    log.add_listener(seen.append)
    log.write("one")
    log.write("two\n")
    text, offset = read_log(path)
    assert text == "one\ntwo\n" and offset == len(text)
    log.write("three")
    more, offset2 = read_log(path, offset)
    assert more == "three\n" and offset2 == offset + 6
    assert read_log(path, offset2) == ("", offset2)
    assert seen == ["one", "two", "three"]
    log.close()


def test_crash_loop_reason_needs_restarts_and_a_short_uptime() -> None:
    import time as _time

    from machete_core.domain.status import crash_loop_reason

    now = _time.time()
    recent = _time.strftime("%Y-%m-%dT%H:%M:%S.123456789Z", _time.gmtime(now - 10))
    stable = _time.strftime("%Y-%m-%dT%H:%M:%SZ", _time.gmtime(now - 900))
    assert crash_loop_reason("running", 2, recent, now) is None
    assert crash_loop_reason("running", 5, recent, now) is not None
    assert crash_loop_reason("restarting", 5, stable, now) is not None
    assert crash_loop_reason("running", 5, stable, now) is None  # up for 15 minutes again
    assert crash_loop_reason("missing", 9, recent, now) is None
