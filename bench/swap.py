"""Requests through each ingress during 10 redeploys, versus requests straight to a container;
then keep-alive throughput through each ingress versus direct.

One run, for each ingress in turn (``builtin``: the server's own proxy; ``caddy``: Caddy the
server runs): ``machete serve`` on loopback with two busybox httpd tools and a keep-alive
Python tool, all public (the data plane is measured, not the sign-in). A client thread
requests, in alternation and without pause, the first tool through the ingress and the second
tool's container directly, while 10 redeploys of the first (each a new commit: fetch, build,
start beside, health gate, switch, drain, retire) go through the API: both kinds of request
see the same machine at the same moments. busybox httpd closes each connection, so every
request opens one. Then, over one kept-alive connection each, the keep-alive tool through the
ingress and directly, in alternating rounds: requests per second with 8 kept-alive
connections (``wrk``, Debian's package: a Python client would measure itself).

Budgets: failed requests through the ingress 0; p99 latency ratio (ingress during redeploys /
direct) at most 1.5 for ``builtin`` and 1.15 for ``caddy``; keep-alive throughput through
``caddy`` at least 0.8 of direct, to a tool that spends a millisecond per request waiting
(as tools do). The same to a tool that does nothing is printed too: on two cores, the load
generator, the tool and a proxy between them compete for the CPU, which bounds that ratio
whatever the proxy.

    python -m bench.swap [--redeploys 10] [--ingress builtin,caddy] [--rounds 6]
"""

from __future__ import annotations

import argparse
import http.client
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from bench.environment import bench_env
from tests.support.caddy import caddy_env
from tests.support.git_server import GitHTTPServer, commit_and_push, make_repo
from tests.support.images import (
    DEBIAN_IMAGE,
    ensure_busybox_image,
    ensure_debian_image,
    http_tool_files,
)
from tests.support.server import call, running_server, tools_base, wait_op

FAILURE_BUDGET = 0
P99_BUDGET = {"builtin": 1.5, "caddy": 1.15}
THROUGHPUT_BUDGET = {"caddy": 0.8}
#: Kept-alive connections of the throughput rounds.
CONNECTIONS = 8

KEEPALIVE_SERVER = """\
import http.server
import time

BODY = b"kept alive\\n"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in one segment, not two a delayed ACK apart.
    disable_nagle_algorithm = True

    def do_GET(self):
        if self.path.endswith("/work"):
            time.sleep(0.001)  # a millisecond of waiting on something, as tools do
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
"""


def keepalive_files() -> dict[str, str]:
    return {
        "Dockerfile": (
            f'FROM {DEBIAN_IMAGE}\nCOPY server.py /server.py\nCMD ["python3", "/server.py"]\n'
        ),
        "server.py": KEEPALIVE_SERVER,
        "machete.yml": "name: keepalive\nmachete:\n  port: 8080\n  health_check: /health\n",
    }


def one_request(url: str) -> tuple[bool, float]:
    parts = urlsplit(url)
    started = time.perf_counter()
    try:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
        conn.request("GET", parts.path or "/")
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        ok = resp.status == 200 and body.startswith(b"release")
    except OSError:
        ok = False
    return ok, time.perf_counter() - started


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def kept_alive_rate(url: str, seconds: float) -> float:
    """Requests per second with ``CONNECTIONS`` kept-alive connections for ``seconds``
    (wrk, a load generator of its own: a Python client would measure itself)."""
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", str(CONNECTIONS), "-d", f"{seconds:g}s", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    if errors:
        raise AssertionError(f"{url}: {errors.group(0)}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert found, out
    return float(found.group(1))


def install(base: str, git: GitHTTPServer, name: str, repo: str) -> None:
    _s, body = call("POST", f"{base}/api/tools", {"url": git.url(f"{repo}.git"), "name": name})
    assert wait_op(base, body["operation_id"])["status"] == "succeeded", name
    assert call("PUT", f"{base}/api/tools/{name}/access", {"access": "public"})[0] == 200


def measure(
    ingress: str, root: Path, git: GitHTTPServer, work: Path, args: argparse.Namespace
) -> dict[str, float]:
    extra = {"MACHETE_HEALTH_INTERVAL": "0.2", **(caddy_env() if ingress == "caddy" else {})}
    env = bench_env(root / ingress, **extra)
    with running_server(env) as (base, _proc):
        install(base, git, "swap", "swap")
        install(base, git, "steady", "swap")
        install(base, git, "kept", "kept")
        direct_url = call("GET", f"{base}/api/tools/steady")[1]["tool"]["url"] + "/"
        through_url = f"{tools_base(base)}/tools/swap/"
        proxied: list[tuple[bool, float]] = []
        direct: list[tuple[bool, float]] = []
        stop = threading.Event()

        def hammer() -> None:
            while not stop.is_set():
                proxied.append(one_request(through_url))
                direct.append(one_request(direct_url))

        client = threading.Thread(target=hammer)
        client.start()
        try:
            for i in range(1, args.redeploys + 1):
                commit_and_push(work, http_tool_files(f"release {i}"), message=f"{ingress} r{i}")
                _s, body = call("POST", f"{base}/api/tools/swap/deploy", {})
                assert wait_op(base, body["operation_id"])["status"] == "succeeded"
        finally:
            stop.set()
            client.join()
        kept_direct = call("GET", f"{base}/api/tools/kept")[1]["tool"]["url"]
        kept_through = f"{tools_base(base)}/tools/kept"
        rates: dict[str, list[float]] = {
            "idle": [],
            "idle_direct": [],
            "work": [],
            "work_direct": [],
        }
        for _ in range(args.rounds):  # alternating, so both see the same machine
            for path, key in (("/", "idle"), ("/work", "work")):
                rates[key].append(kept_alive_rate(kept_through + path, args.round_seconds))
                rates[key + "_direct"].append(
                    kept_alive_rate(kept_direct + path, args.round_seconds)
                )
        for name in ("swap", "steady", "kept"):
            wait_op(base, call("DELETE", f"{base}/api/tools/{name}")[1]["operation_id"])
    failed = sum(1 for ok, _ in proxied if not ok)
    result = {
        "requests": len(proxied),
        "failed": failed,
        "direct_failed": sum(1 for ok, _ in direct if not ok),
        "median_ms": statistics.median(t for _, t in proxied) * 1000,
        "direct_median_ms": statistics.median(t for _, t in direct) * 1000,
        "p99_ms": p99([t for _, t in proxied]) * 1000,
        "direct_p99_ms": p99([t for _, t in direct]) * 1000,
    }
    for key, values in rates.items():
        result[f"{key}_rate"] = statistics.median(values)
        result[f"{key}_min"] = min(values)
        result[f"{key}_max"] = max(values)
    result["p99_ratio"] = result["p99_ms"] / result["direct_p99_ms"]
    for key in ("idle", "work"):
        result[f"{key}_ratio"] = result[f"{key}_rate"] / result[f"{key}_direct_rate"]
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redeploys", type=int, default=10)
    parser.add_argument("--ingress", default="builtin,caddy")
    parser.add_argument("--rounds", type=int, default=6, help="keep-alive rounds per side")
    parser.add_argument("--round-seconds", type=float, default=2.0)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench.swap needs wrk for its throughput rounds: apt-get install wrk")
        return 2
    ensure_busybox_image()
    ensure_debian_image()
    verdict = 0
    with tempfile.TemporaryDirectory(prefix="machete-bench-") as tmp:
        root = Path(tmp)
        (root / "repos").mkdir()
        work = make_repo(root / "repos", "swap", http_tool_files("release 0"))
        make_repo(root / "repos", "kept", keepalive_files())
        git = GitHTTPServer(root / "repos").start()
        try:
            for ingress in args.ingress.split(","):
                r = measure(ingress, root, git, work, args)
                p99_ok = r["failed"] <= FAILURE_BUDGET and r["p99_ratio"] <= P99_BUDGET[ingress]
                rate_budget = THROUGHPUT_BUDGET.get(ingress)
                rate_ok = rate_budget is None or r["work_ratio"] >= rate_budget
                print(f"== {ingress}")
                print(
                    f"during {args.redeploys} redeploys: {r['requests']:.0f} requests through "
                    f"the ingress, {r['failed']:.0f} failed ({r['direct_failed']:.0f} direct)"
                )
                print(
                    f"median {r['median_ms']:.2f} ms vs {r['direct_median_ms']:.2f} ms direct; "
                    f"p99 {r['p99_ms']:.2f} ms vs {r['direct_p99_ms']:.2f} ms: ratio "
                    f"{r['p99_ratio']:.2f} (budget {P99_BUDGET[ingress]}) "
                    f"-> {'OK' if p99_ok else 'OVER BUDGET'}"
                )
                for key, what in (("work", "1 ms of work"), ("idle", "no work")):
                    line = (
                        f"keep-alive, {what}: {r[key + '_rate']:.0f} req/s (min "
                        f"{r[key + '_min']:.0f}, max {r[key + '_max']:.0f}) vs "
                        f"{r[key + '_direct_rate']:.0f} direct (min {r[key + '_direct_min']:.0f}, "
                        f"max {r[key + '_direct_max']:.0f}): ratio {r[key + '_ratio']:.2f}"
                    )
                    if key == "work" and rate_budget:
                        line += f" (budget {rate_budget}) -> {'OK' if rate_ok else 'OVER BUDGET'}"
                    print(line, flush=True)
                if not (p99_ok and rate_ok):
                    verdict = 1
        finally:
            git.stop()
    return verdict


if __name__ == "__main__":
    sys.exit(main())
