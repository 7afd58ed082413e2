"""How fast the ``machete`` CLI answers, through a running server, against importing click.

In one run: a ``machete serve`` on a fresh state with 10 real tools (busybox httpd, installed
from a loopback Git server), then, interleaved round by round, new processes of
``python -c "import click"`` (the floor any click CLI pays), ``machete --help``, ``machete ls``
and ``machete status NAME`` through the server (client mode: the CLI finds the server of its
state), and ``machete --local ls``/``status`` (the core on the state, for information).
Reported: each one's min, median and max and the ratio of its median to the floor's.
Budgets: ``--help`` at most 1.5x, ``ls`` and ``status`` at most 3x.

    python -m bench.cli_latency [--rounds 30] [--tools 10] [--record]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import report
from bench.environment import bench_env
from tests.support.git_server import GitHTTPServer, make_repo
from tests.support.images import ensure_busybox_image, http_tool_files
from tests.support.server import running_server

BUDGETS = {"--help": 1.5, "ls": 3.0, "status": 3.0}
#: The console script a user runs (``python -m machete_cli`` from a source tree without one).
_SCRIPT = Path(sys.executable).with_name("machete")
MACHETE = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "machete_cli"]


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    parser = report.parser(__doc__, rounds=30)
    parser.add_argument("--tools", type=int, default=10)
    args = parser.parse_args()
    ensure_busybox_image()
    with tempfile.TemporaryDirectory(prefix="machete-bench-") as tmp:
        root = Path(tmp)
        (root / "repos").mkdir()
        make_repo(root / "repos", "tool", http_tool_files("bench cli"))
        git = GitHTTPServer(root / "repos").start()
        env = bench_env(root, MACHETE_HEALTH_INTERVAL="0.05")
        with running_server(env):
            for i in range(args.tools):
                subprocess.run(
                    [*MACHETE, "install", git.url("tool.git"), "--name", f"t{i}"],
                    env=env,
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
            commands = {
                "import click": [sys.executable, "-c", "import click"],
                "--help": [*MACHETE, "--help"],
                "ls": [*MACHETE, "ls"],
                "status": [*MACHETE, "status", "t0"],
                "--local ls": [*MACHETE, "--local", "ls"],
                "--local status": [*MACHETE, "--local", "status", "t0"],
            }
            for command in commands.values():
                timed(command, env)  # warm: byte code, the plugin-commands cache
            times: dict[str, list[float]] = {name: [] for name in commands}
            for _ in range(args.rounds):
                for name, command in commands.items():
                    times[name].append(timed(command, env))
            for i in range(args.tools):
                subprocess.run(
                    [*MACHETE, "rm", f"t{i}"], env=env, check=True, stdout=subprocess.DEVNULL
                )
        git.stop()
    result = report.Report("cli_latency", "python -m bench.cli_latency", args.rounds)
    floor = [t * 1000 for t in times.pop("import click")]
    result.measure('python -c "import click" (the floor)', floor, unit="ms", fmt=".1f", budget=None)
    for name, samples in times.items():
        result.compare(
            f"machete {name} / the floor",
            [t * 1000 for t in samples],
            floor,
            unit="ms",
            fmt=".1f",
            budget=BUDGETS.get(name),
        )
    return result.finish(args.record)


if __name__ == "__main__":
    sys.exit(main())
