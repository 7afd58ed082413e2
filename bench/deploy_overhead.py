"""``machete install`` until healthy versus the raw steps, on the same fixture repository.

``machete install`` runs as a team member runs it: the CLI through a running ``machete serve``
(client mode: the server runs the operation, the CLI follows its steps over the API's
WebSocket). ``--local`` measures the CLI working on the state itself instead.

Raw steps: ``git clone``, ``docker buildx build --load`` (the builder MACHETE uses here),
``docker run``, then polling the health URL. Both
sides run alternately, after one warm-up each (so both see a warm base-image cache). Before each
round a new commit lands in each side's repository, so both really build (no layer-cache hit
that one side would get from the other), as a real deploy of new code does. The ratio of the
medians is printed. Budget: at most 1.10.

    python -m bench.deploy_overhead [--rounds 5] [--local]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.environment import bench_env
from tests.support.git_server import GitHTTPServer, commit_and_push, make_repo
from tests.support.http import request
from tests.support.images import ensure_busybox_image, http_tool_files
from tests.support.server import running_server

BUDGET = 1.10


def wait_health(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if request(url, timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} never became healthy")


def raw_steps(url: str, work: Path, tag: str) -> float:
    started = time.monotonic()
    src = work / f"clone-{tag}"
    subprocess.run(["git", "clone", "-q", url, str(src)], check=True)
    # The builder MACHETE picks here (buildx, BuildKit): the ratio is MACHETE's own cost, not
    # one builder against another.
    subprocess.run(
        ["docker", "buildx", "build", "--load", "-q", "-t", f"bench-raw:{tag}", str(src)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    cid = subprocess.run(
        ["docker", "run", "-d", "--init", "-p", "127.0.0.1::8080", f"bench-raw:{tag}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    port = (
        subprocess.run(
            ["docker", "port", cid, "8080/tcp"], check=True, capture_output=True, text=True
        )
        .stdout.split(":")[-1]
        .strip()
    )
    wait_health(f"http://127.0.0.1:{port}/health")
    elapsed = time.monotonic() - started
    subprocess.run(["docker", "rm", "-f", cid], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["docker", "rmi", "-f", f"bench-raw:{tag}"], check=True, stdout=subprocess.DEVNULL
    )
    shutil.rmtree(src)
    return elapsed


def machete_install(url: str, env: dict[str, str], name: str) -> float:
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "machete_cli", "install", url, "--name", name],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    elapsed = time.monotonic() - started
    subprocess.run(
        [sys.executable, "-m", "machete_cli", "rm", name],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--local", action="store_true", help="Without a server (local mode).")
    args = parser.parse_args()
    ensure_busybox_image()
    with tempfile.TemporaryDirectory(prefix="machete-bench-") as tmp:
        root = Path(tmp)
        (root / "repos").mkdir()
        raw_work = make_repo(root / "repos", "raw", http_tool_files("bench raw"))
        our_work = make_repo(root / "repos", "ours", http_tool_files("bench ours"))
        server = GitHTTPServer(root / "repos").start()
        raw_url, url = server.url("raw.git"), server.url("ours.git")
        env = bench_env(root, MACHETE_HEALTH_INTERVAL="0.05")
        with contextlib.ExitStack() as stack:
            if not args.local:
                stack.enter_context(running_server(env))
            raw_steps(raw_url, root, "warm")
            machete_install(url, env, "warm")
            raws, ours = [], []
            for i in range(args.rounds):
                commit_and_push(raw_work, {"www/index.html": f"raw round {i}\n"})
                commit_and_push(our_work, {"www/index.html": f"our round {i}\n"})
                raws.append(raw_steps(raw_url, root, str(i)))
                ours.append(machete_install(url, env, f"b{i}"))
        server.stop()
    raw, mine = statistics.median(raws), statistics.median(ours)
    ratio = mine / raw
    print(f"raw steps      median {raw:.2f}s  {[round(x, 2) for x in raws]}")
    print(f"mode: {'local' if args.local else 'client (through machete serve)'}")
    print(f"machete install median {mine:.2f}s  {[round(x, 2) for x in ours]}")
    print(f"ratio {ratio:.2f} (budget {BUDGET}) -> {'OK' if ratio <= BUDGET else 'OVER BUDGET'}")
    return 0 if ratio <= BUDGET else 1


if __name__ == "__main__":
    sys.exit(main())
