"""Requests through the proxy during 10 redeploys, versus requests straight to a container.

One run: ``machete serve`` on loopback with two busybox httpd tools. A client thread requests,
in alternation and without pause, the first tool through ``/tools/<name>/`` and the second
tool's container directly at its address, while 10 redeploys of the first (each a new commit:
fetch, build, start beside, health gate, switch, drain, retire) go through the API. Both kinds
of request so see the same machine at the same moments: the busy one of a deploy. Every
request opens a new connection (busybox httpd closes each one).

Budgets: failed requests through the proxy 0; p99 latency ratio (proxy during redeploys /
direct) at most 1.5.

    python -m bench.swap [--redeploys 10]
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from bench.environment import bench_env
from tests.support.git_server import GitHTTPServer, commit_and_push, make_repo
from tests.support.http import auth_headers
from tests.support.images import ensure_busybox_image, http_tool_files
from tests.support.server import call, running_server, tools_base, wait_op

FAILURE_BUDGET = 0
P99_BUDGET = 1.5


def one_request(url: str) -> tuple[bool, float]:
    parts = urlsplit(url)
    started = time.perf_counter()
    try:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        conn.request("GET", parts.path or "/", headers=auth_headers(url))
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        ok = resp.status == 200 and body.startswith(b"release")
    except OSError:
        ok = False
    return ok, time.perf_counter() - started


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redeploys", type=int, default=10)
    args = parser.parse_args()
    ensure_busybox_image()
    with tempfile.TemporaryDirectory(prefix="machete-bench-") as tmp:
        root = Path(tmp)
        (root / "repos").mkdir()
        work = make_repo(root / "repos", "swap", http_tool_files("release 0"))
        git = GitHTTPServer(root / "repos").start()
        env = bench_env(root, MACHETE_HEALTH_INTERVAL="0.2")
        with running_server(env) as (base, _proc):
            for name in ("swap", "steady"):
                _s, body = call(
                    "POST", f"{base}/api/tools", {"url": git.url("swap.git"), "name": name}
                )
                assert wait_op(base, body["operation_id"])["status"] == "succeeded"
            _s, tool = call("GET", f"{base}/api/tools/steady")
            direct_url = tool["tool"]["url"] + "/"
            proxied: list[tuple[bool, float]] = []
            direct: list[tuple[bool, float]] = []
            stop = threading.Event()

            def hammer() -> None:
                while not stop.is_set():
                    proxied.append(one_request(f"{tools_base(base)}/tools/swap/"))
                    direct.append(one_request(direct_url))

            client = threading.Thread(target=hammer)
            client.start()
            try:
                for i in range(1, args.redeploys + 1):
                    commit_and_push(work, http_tool_files(f"release {i}"), message=f"r{i}")
                    _s, body = call("POST", f"{base}/api/tools/swap/deploy", {})
                    assert wait_op(base, body["operation_id"])["status"] == "succeeded"
            finally:
                stop.set()
                client.join()
            for name in ("swap", "steady"):
                wait_op(base, call("DELETE", f"{base}/api/tools/{name}")[1]["operation_id"])
        git.stop()
    failed = sum(1 for ok, _ in proxied if not ok)
    direct_failed = sum(1 for ok, _ in direct if not ok)
    proxy_p99 = p99([t for _, t in proxied])
    direct_p99 = p99([t for _, t in direct])
    ratio = proxy_p99 / direct_p99
    print(f"through the proxy: {len(proxied)} requests, {failed} failed")
    print(f"direct:            {len(direct)} requests, {direct_failed} failed")
    print(f"during {args.redeploys} redeploys")
    print(
        f"median {statistics.median(t for _, t in proxied) * 1000:.2f} ms vs "
        f"{statistics.median(t for _, t in direct) * 1000:.2f} ms; "
        f"p99 {proxy_p99 * 1000:.2f} ms vs {direct_p99 * 1000:.2f} ms"
    )
    ok = failed <= FAILURE_BUDGET and ratio <= P99_BUDGET
    print(
        f"failed {failed} (budget {FAILURE_BUDGET}), p99 ratio {ratio:.2f} "
        f"(budget {P99_BUDGET}) -> {'OK' if ok else 'OVER BUDGET'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
