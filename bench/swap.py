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
import contextlib
import http.client
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench import report
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


def network_address(env: dict[str, str], tool: str, port: int) -> str:
    """``http://ip:port`` of ``tool``'s container on its own network (as an ingress reaches it)."""
    import docker

    client = docker.from_env()
    try:
        (container,) = client.containers.list(
            filters={
                "label": [
                    f"io.machete.tool={tool}",
                    f"io.machete.installation={env['MACHETE_INSTALLATION']}",
                ]
            }
        )
        networks = container.attrs["NetworkSettings"]["Networks"]
        address = next(n["IPAddress"] for n in networks.values() if n.get("IPAddress"))
    finally:
        client.close()
    return f"http://{address}:{port}"


@contextlib.contextmanager
def floor_proxy(upstream: str) -> Iterator[str]:
    """``bench.floor_proxy`` in front of ``upstream``; yields its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.floor_proxy", upstream], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        word, _, port = proc.stdout.readline().strip().partition(" ")
        assert word == "ready", word
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def p99_by_round(samples: list[tuple[int, bool, float]], rounds: int) -> list[float]:
    return [p99([t for r, _ok, t in samples if r == i]) * 1000 for i in range(rounds)]


def measure(
    ingress: str, root: Path, git: GitHTTPServer, work: Path, args: argparse.Namespace
) -> dict[str, Any]:
    extra = {"MACHETE_HEALTH_INTERVAL": "0.2", **(caddy_env() if ingress == "caddy" else {})}
    env = bench_env(root / ingress, **extra)
    with running_server(env) as (base, _proc), contextlib.ExitStack() as stack:
        install(base, git, "swap", "swap")
        install(base, git, "steady", "swap")
        install(base, git, "kept", "kept")
        direct_url = call("GET", f"{base}/api/tools/steady")[1]["tool"]["url"] + "/"
        through_url = f"{tools_base(base)}/tools/swap/"
        urls = {"through": through_url, "direct": direct_url}
        if ingress == "builtin":
            urls["floor"] = stack.enter_context(floor_proxy(network_address(env, "steady", 8080)))
        # (round, ok, seconds) per request, by side; round i is the i-th redeploy.
        samples: dict[str, list[tuple[int, bool, float]]] = {side: [] for side in urls}
        current = [0]
        stop = threading.Event()

        def hammer() -> None:
            while not stop.is_set():
                for side, url in urls.items():
                    ok, took = one_request(url)
                    samples[side].append((current[0], ok, took))

        client = threading.Thread(target=hammer)
        client.start()
        try:
            for i in range(args.rounds):
                current[0] = i
                commit_and_push(
                    work, http_tool_files(f"release {i + 1}"), message=f"{ingress} r{i}"
                )
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
        for i in range(args.keepalive_rounds):  # alternating, so both see the same machine
            for path, key in (("/", "idle"), ("/work", "work")):
                sides = [(kept_through, key), (kept_direct, key + "_direct")]
                for url, into in sides if i % 2 == 0 else reversed(sides):
                    rates[into].append(kept_alive_rate(url + path, args.round_seconds))
        for name in ("swap", "steady", "kept"):
            wait_op(base, call("DELETE", f"{base}/api/tools/{name}")[1]["operation_id"])
    return {
        "p99": {side: p99_by_round(found, args.rounds) for side, found in samples.items()},
        "requests": len(samples["through"]),
        "failed": sum(1 for _r, ok, _t in samples["through"] if not ok),
        "direct_failed": sum(1 for _r, ok, _t in samples["direct"] if not ok),
        "median_ms": {
            side: statistics.median(t for _r, _ok, t in found) * 1000
            for side, found in samples.items()
        },
        "rates": rates,
    }


def main() -> int:
    parser = report.parser(__doc__, rounds=10)
    parser.add_argument("--ingress", default="builtin,caddy")
    parser.add_argument("--keepalive-rounds", type=int, default=6)
    parser.add_argument("--round-seconds", type=float, default=2.0)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench.swap needs wrk for its throughput rounds: apt-get install wrk")
        return 2
    ensure_busybox_image()
    ensure_debian_image()
    result = report.Report("swap", "python -m bench.swap", args.rounds)
    with tempfile.TemporaryDirectory(prefix="machete-bench-") as tmp:
        root = Path(tmp)
        (root / "repos").mkdir()
        work = make_repo(root / "repos", "swap", http_tool_files("release 0"))
        make_repo(root / "repos", "kept", keepalive_files())
        git = GitHTTPServer(root / "repos").start()
        try:
            for ingress in args.ingress.split(","):
                found = measure(ingress, root, git, work, args)
                p99s = found["p99"]
                result.compare(
                    f"`{ingress}`: p99 during a redeploy, through / direct",
                    p99s["through"],
                    p99s["direct"],
                    unit="ms",
                    fmt=".2f",
                    budget=P99_BUDGET[ingress],
                )
                result.measure(
                    f"`{ingress}`: failed requests through the ingress",
                    [found["failed"]],
                    unit="",
                    fmt=".0f",
                    budget=FAILURE_BUDGET,
                )
                if "floor" in p99s:
                    result.compare(
                        f"`{ingress}`: p99, a bare aiohttp proxy (the floor) / direct",
                        p99s["floor"],
                        p99s["direct"],
                        unit="ms",
                        fmt=".2f",
                        budget=None,
                    )
                rates = found["rates"]
                for key, what in (("work", "1 ms of work"), ("idle", "no work")):
                    result.compare(
                        f"`{ingress}`: keep-alive throughput, {what}, through / direct",
                        rates[key],
                        rates[key + "_direct"],
                        unit="req/s",
                        fmt=".0f",
                        budget=THROUGHPUT_BUDGET.get(ingress) if key == "work" else None,
                        at_least=True,
                    )
                medians = ", ".join(
                    f"{side} {ms:.2f} ms" for side, ms in found["median_ms"].items()
                )
                result.note(
                    f"`{ingress}`: {found['requests']} requests through the ingress during "
                    f"{args.rounds} redeploys, {found['failed']} failed ({found['direct_failed']} "
                    f"direct); median latency {medians}"
                )
        finally:
            git.stop()
    return result.finish(args.record)


if __name__ == "__main__":
    sys.exit(main())
