"""After one new commit, bytes the redeploy's fetch transfers versus the size of the new objects.

Budget: at most 2x (the ratio of the medians). The repository is made large (random content)
and cloned once; then, each round, one small commit lands and the Git server counts the bytes it
sends during the redeploy's fetch.

    python -m bench.incremental_fetch [--rounds 5] [--record]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

from bench import report
from machete_core.domain.records import Locator
from machete_core.settings import Settings
from machete_plugins.git_source import GitSource
from tests.support.git_server import GitHTTPServer, commit_and_push, git, make_repo

BUDGET = 2.0


def new_objects_size(work: Path, old: str, new: str) -> int:
    """Bytes of the objects the new commit adds, zlib-compressed as Git stores them."""
    names = git("rev-list", "--objects", f"{old}..{new}", cwd=work).split("\n")
    total = 0
    for line in names:
        sha = line.split()[0]
        kind = git("cat-file", "-t", sha, cwd=work)
        body = subprocess.run(
            ["git", "cat-file", kind, sha], cwd=work, capture_output=True, check=True
        ).stdout
        total += len(zlib.compress(f"{kind} {len(body)}\0".encode() + body))
    return total


def main() -> int:
    args = report.parser(__doc__, rounds=5).parse_args()
    transferred: list[float] = []
    added: list[float] = []
    with tempfile.TemporaryDirectory(prefix="machete-bench-") as tmp:
        root = Path(tmp)
        (root / "repos").mkdir()
        work = make_repo(
            root / "repos", "big", {f"data/f{i}.bin": os.urandom(20_000).hex() for i in range(100)}
        )
        server = GitHTTPServer(root / "repos").start()
        source = GitSource(
            Settings(
                home=root / "home",
                allowed_schemes=frozenset({"http"}),
                allowed_networks=("127.0.0.0/8",),
            )
        )
        url = server.url("big.git")
        (root / "first").mkdir()
        source.fetch(Locator(url=url), root / "first", lambda line: None)
        first = server.bytes_sent
        for i in range(args.rounds):
            old = git("rev-parse", "HEAD", cwd=work)
            # A typical commit: one source file of a few KiB changes.
            new = commit_and_push(work, {"src/module.py": os.urandom(3000).hex()})
            (root / f"r{i}").mkdir()
            before = server.bytes_sent
            source.fetch(Locator(url=url), root / f"r{i}", lambda line: None)
            transferred.append(server.bytes_sent - before)
            added.append(new_objects_size(work, old, new))
        server.stop()
    result = report.Report("incremental_fetch", "python -m bench.incremental_fetch", args.rounds)
    result.compare(
        "redeploy fetch (HTTP bodies, refs included) / new objects",
        transferred,
        added,
        unit="B",
        fmt=".0f",
        budget=BUDGET,
    )
    result.note(f"the first clone transferred {first} bytes")
    return result.finish(args.record)


if __name__ == "__main__":
    sys.exit(main())
