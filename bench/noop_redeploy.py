"""Redeploy of an unchanged Git tool versus ``git ls-remote`` against the same loopback server.

Budget: ratio at most 2, with 0 builds and 0 container restarts. Measured two ways, alternated
in one run: the deploy as the server does it (``Machete.deploy`` in a running process, as the
HTTP API and webhooks call it; the budget applies here), and as a fresh ``machete deploy``
process (which adds Python's start-up and imports, reported for information).

    python -m bench.noop_redeploy [--rounds 7] [--record]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import report
from bench.environment import bench_env
from tests.support.git_server import GitHTTPServer, make_repo
from tests.support.images import ensure_busybox_image, http_tool_files

BUDGET = 2.0


def cli_json(env: dict[str, str], *args: str) -> Any:
    out = subprocess.run(
        [sys.executable, "-m", "machete_cli", *args, "--json"],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.monotonic()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def main() -> int:
    args = report.parser(__doc__, rounds=7).parse_args()
    ensure_busybox_image()
    machete = [sys.executable, "-m", "machete_cli"]
    with tempfile.TemporaryDirectory(prefix="machete-bench-") as tmp:
        root = Path(tmp)
        (root / "repos").mkdir()
        make_repo(root / "repos", "tool", http_tool_files("noop"))
        server = GitHTTPServer(root / "repos").start()
        url = server.url("tool.git")
        env = bench_env(root)
        subprocess.run(
            [*machete, "install", url, "--name", "noop"],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        before = cli_json(env, "status", "noop")
        from machete_core.machete import create_machete
        from machete_core.settings import Settings
        from machete_plugins import BUILTIN_PLUGINS

        m = create_machete(Settings.from_env(env), builtins=BUILTIN_PLUGINS)
        m.deploy("noop")  # warm: plugins loaded, connections made
        ours, raws, cli = [], [], []
        for _ in range(args.rounds):
            raws.append(timed(["git", "ls-remote", url], env))
            started = time.monotonic()
            m.deploy("noop")
            ours.append(time.monotonic() - started)
            cli.append(timed([*machete, "deploy", "noop"], env))
        m.close()
        after = cli_json(env, "status", "noop")
        releases = cli_json(env, "releases", "noop")
        subprocess.run([*machete, "rm", "noop"], check=True, env=env, stdout=subprocess.DEVNULL)
        server.stop()
    builds = len(releases) - 1
    restarts = int(after["instance_id"] != before["instance_id"])
    result = report.Report("noop_redeploy", "python -m bench.noop_redeploy", args.rounds)
    result.compare(
        "Machete.deploy (in a running process) / git ls-remote",
        ours,
        raws,
        unit="s",
        fmt=".3f",
        budget=BUDGET,
    )
    result.measure("machete deploy (a new CLI process)", cli, unit="s", fmt=".3f", budget=None)
    result.measure("builds", [builds], unit="", fmt=".0f", budget=0)
    result.measure("container restarts", [restarts], unit="", fmt=".0f", budget=0)
    return result.finish(args.record)


if __name__ == "__main__":
    sys.exit(main())
