"""Where an install's time goes inside MACHETE, from a profiler: ``Machete.install`` of a new
tool (a new commit each round, so it really builds) run under cProfile in this process, on the
same busybox fixture as ``bench.deploy_overhead``, and its time split into what the issue of a
slow install asks about: the fetch, the manifest, the build, the tool's network, the container,
the health gate, the database and the docker clients made. Rows overlap where one part runs
inside another (the database inside every step); none has a budget: this says where
``bench.deploy_overhead``'s gap is, it does not judge it. cProfile slows Python code, not the
engine's work, so Python-heavy rows read a little high.

    python -m bench.install_profile [--rounds 5] [--record]
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import report
from bench.environment import bench_env
from tests.support.git_server import GitHTTPServer, commit_and_push, make_repo
from tests.support.images import ensure_busybox_image, http_tool_files

#: (row, file suffix, function name): a function's cumulative time.
PARTS = (
    ("fetch into the Git cache", "machete_plugins/git_source.py", "fetch"),
    ("manifest read and checked", "machete_core/pipeline/tool_spec.py", "read_tool"),
    ("build (buildx: mostly waiting on the engine)", "machete_plugins/buildx_builder.py", "build"),
    (
        "the tool's network made (its first deploy)",
        "machete_plugins/docker_runtime.py",
        "_ensure_network",
    ),
    ("container made and started, network included", "machete_plugins/docker_runtime.py", "start"),
    ("health gate", "machete_core/pipeline/gate.py", "health_gate"),
    ("events published (stored, then to listeners)", "machete_core/events.py", "publish"),
    ("docker clients made (each asks the engine its version)", "docker/client.py", "from_env"),
)
STORE = "machete_core/state/"


def cumulative(stats: dict[Any, Any], suffix: str, name: str) -> float:
    return sum(
        value[3]
        for (path, _line, func), value in stats.items()
        if func == name and path.endswith(suffix)
    )


def in_store(stats: dict[Any, Any]) -> float:
    """Time in the store's functions when called from outside the store (not counted twice
    when the store calls itself)."""
    total = 0.0
    for (path, _line, _func), value in stats.items():
        if STORE not in path:
            continue
        callers = value[4]
        total += sum(c[3] for (caller, _l, _f), c in callers.items() if STORE not in caller)
    return total


def profile_install(m: Any, url: str, name: str) -> dict[str, float]:
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    m.install(url, name=name)
    profiler.disable()
    took = time.perf_counter() - started
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    parts = {"install, in all": took}
    for row, suffix, func in PARTS:
        parts[row] = cumulative(stats, suffix, func)
    parts["the store (database reads and writes)"] = in_store(stats)
    return parts


def main() -> int:
    args = report.parser(__doc__, rounds=5).parse_args()
    ensure_busybox_image()
    from machete_core.machete import create_machete
    from machete_core.settings import Settings
    from machete_plugins import BUILTIN_PLUGINS

    runs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="machete-bench-") as tmp:
        root = Path(tmp)
        (root / "repos").mkdir()
        work = make_repo(root / "repos", "tool", http_tool_files("profiled"))
        git = GitHTTPServer(root / "repos").start()
        url = git.url("tool.git")
        m = create_machete(
            Settings.from_env(bench_env(root, MACHETE_HEALTH_INTERVAL="0.05")),
            builtins=BUILTIN_PLUGINS,
        )
        try:
            m.install(url, name="warm")  # imports, plugins, the base image's layers
            m.remove("warm")
            for i in range(args.rounds):
                commit_and_push(work, {"www/index.html": f"round {i}\n"})
                runs.append(profile_install(m, url, f"p{i}"))
                m.remove(f"p{i}")
        finally:
            m.close()
            git.stop()
    result = report.Report("install_profile", "python -m bench.install_profile", args.rounds)
    for row in runs[0]:
        result.measure(row, [r[row] for r in runs], unit="s", fmt=".3f", budget=None)
    return result.finish(args.record)


if __name__ == "__main__":
    sys.exit(main())
