"""Running the ``machete`` CLI as a user does: a separate process."""

from __future__ import annotations

import subprocess
import sys


def run_cli(
    env: dict[str, str], *args: str, stdin: str | bytes | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    if isinstance(stdin, bytes):
        stdin = stdin.decode("latin-1")  # archives piped through text mode byte for byte
    out = subprocess.run(
        [sys.executable, "-m", "machete_cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if check:
        assert out.returncode == 0, (args, out.stdout[-2000:], out.stderr[-2000:])
    return out
