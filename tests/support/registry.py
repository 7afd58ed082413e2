"""A Docker registry from Debian's ``docker-registry`` package, served on loopback for tests.

The engine trusts registries on 127.0.0.0/8 without TLS, so pushes and pulls work as they would
against a team's registry. Storage is a temporary directory, deleted at the end.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.support.ports import free_port

BINARY = "/usr/bin/docker-registry"


class LocalRegistry:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="machete-registry-"))
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> LocalRegistry:
        if not Path(BINARY).exists():
            raise RuntimeError("docker-registry is not installed: run scripts/setup.sh")
        config = self.root / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.root / 'data'}\n"
            "  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.address}\n"
        )
        self.proc = subprocess.Popen(
            [BINARY, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://{self.address}/v2/", timeout=1).read()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the registry did not start")

    def tags(self, repository: str) -> list[str]:
        with urllib.request.urlopen(
            f"http://{self.address}/v2/{repository}/tags/list", timeout=5
        ) as resp:
            return list(json.load(resp).get("tags") or [])

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)
