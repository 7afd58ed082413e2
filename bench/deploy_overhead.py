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

Where the time goes is printed too, from the same rounds (median of each): on the raw side each
command; on MACHETE's side each step of the operation as the server recorded it, what comes
before the operation exists (the CLI process starting and submitting), between its creation
and its first step, after its last step, and between its end and the CLI's exit (following).

    python -m bench.deploy_overhead [--rounds 7] [--local] [--record]
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import report
from bench.environment import bench_env
from tests.support.git_server import GitHTTPServer, commit_and_push, make_repo
from tests.support.http import request
from tests.support.images import ensure_busybox_image, http_tool_files
from tests.support.server import running_server

BUDGET = 1.10
#: Each round's time per phase, in seconds, by phase name.
Phases = dict[str, float]


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


def raw_steps(url: str, work: Path, tag: str) -> tuple[float, Phases]:
    started = time.monotonic()
    marks = [started]
    src = work / f"clone-{tag}"
    subprocess.run(["git", "clone", "-q", url, str(src)], check=True)
    marks.append(time.monotonic())
    # The builder MACHETE picks here (buildx, BuildKit): the ratio is MACHETE's own cost, not
    # one builder against another.
    subprocess.run(
        ["docker", "buildx", "build", "--load", "-q", "-t", f"bench-raw:{tag}", str(src)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    marks.append(time.monotonic())
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
    marks.append(time.monotonic())
    wait_health(f"http://127.0.0.1:{port}/health")
    marks.append(time.monotonic())
    elapsed = marks[-1] - started
    phases = dict(
        zip(("git clone", "buildx build", "docker run", "health polled"), _gaps(marks), strict=True)
    )
    subprocess.run(["docker", "rm", "-f", cid], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["docker", "rmi", "-f", f"bench-raw:{tag}"], check=True, stdout=subprocess.DEVNULL
    )
    shutil.rmtree(src)
    return elapsed, phases


def _gaps(marks: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(marks)]


def machete_install(url: str, env: dict[str, str], name: str) -> tuple[float, float, float]:
    """The CLI's wall time, and when (the epoch) it was started and ended."""
    began = time.time()
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "machete_cli", "install", url, "--name", name],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    elapsed = time.monotonic() - started
    ended = time.time()
    subprocess.run(
        [sys.executable, "-m", "machete_cli", "rm", name],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    return elapsed, began, ended


def install_phases(env: dict[str, str], name: str, began: float, ended: float) -> Phases:
    """Where one install's time went, from the operation and steps the server recorded."""
    from machete_core.machete import create_machete
    from machete_core.settings import Settings
    from machete_plugins import BUILTIN_PLUGINS

    m = create_machete(Settings.from_env(env), builtins=BUILTIN_PLUGINS)
    try:
        ops = [o for o in m.store.list_operations(tool_name=name) if o.kind == "install"]
        op = m.store.get_operation(ops[-1].id)
    finally:
        m.close()
    first, last = op.steps[0], op.steps[-1]
    assert last.finished_at is not None and op.finished_at is not None
    phases = {"CLI start-up and submit": op.created_at - began}
    phases["queued (operation made, no step yet)"] = first.started_at - op.created_at
    previous_end = first.started_at
    for step in op.steps:
        assert step.finished_at is not None
        # A gap between steps (the runner's own bookkeeping) is counted with the next step.
        phases[f"step {step.name}"] = step.finished_at - previous_end
        previous_end = step.finished_at
    phases["operation finished after its last step"] = op.finished_at - last.finished_at
    phases["CLI sees the end and exits"] = ended - op.finished_at
    return phases


def main() -> int:
    parser = report.parser(__doc__, rounds=7)
    parser.add_argument("--local", action="store_true", help="Without a server (local mode).")
    args = parser.parse_args()
    ensure_busybox_image()
    raws: list[tuple[float, Phases]] = []
    ours: list[tuple[float, Phases]] = []
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
            for i in range(args.rounds):
                commit_and_push(raw_work, {"www/index.html": f"raw round {i}\n"})
                commit_and_push(our_work, {"www/index.html": f"our round {i}\n"})
                # Alternating which side goes first, so neither always follows the other.
                sides = [("raw", i), ("ours", i)] if i % 2 == 0 else [("ours", i), ("raw", i)]
                for side, n in sides:
                    if side == "raw":
                        raws.append(raw_steps(raw_url, root, str(n)))
                    else:
                        took, began, ended = machete_install(url, env, f"b{n}")
                        ours.append((took, install_phases(env, f"b{n}", began, ended)))
        server.stop()
    mode = "local" if args.local else "client"
    name = "deploy_overhead_local" if args.local else "deploy_overhead"
    command = "python -m bench.deploy_overhead" + (" --local" if args.local else "")
    result = report.Report(name, command, args.rounds)
    result.compare(
        f"machete install ({mode}) / raw steps",
        [t for t, _ in ours],
        [t for t, _ in raws],
        unit="s",
        fmt=".2f",
        budget=None if args.local else BUDGET,
    )
    for label, runs in (("raw", raws), ("machete", ours)):
        for phase in runs[0][1]:
            result.measure(
                f"{label}: {phase}",
                [phases[phase] for _, phases in runs],
                unit="s",
                fmt=".3f",
                budget=None,
            )
    return result.finish(args.record)


if __name__ == "__main__":
    sys.exit(main())
