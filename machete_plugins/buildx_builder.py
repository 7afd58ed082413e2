"""The ``buildx`` builder: ``docker buildx build`` as a subprocess (an argument list, no shell).

With the engine's own ``docker`` driver, BuildKit builds straight into the engine's image store,
reuses its layer cache across builds, and records metadata steps (LABEL, CMD, EXPOSE) without
running a container for each, which makes it much faster than the classic builder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

from machete_core.domain.records import BuildRequest, Image, LogSink
from machete_core.errors import BuildError, BuildTimeoutError, CancelledError
from machete_core.manifest.dockerfile import check_build_args
from machete_core.plugins import hookimpl
from machete_core.plugins.records import BuilderProvider
from machete_core.settings import Settings
from machete_plugins import docker_engine
from machete_plugins.docker_builder import DockerBuilder

LAST_LINES = 30


def docker_cli() -> str | None:
    return shutil.which("docker")


def availability() -> str | None:
    cli = docker_cli()
    if cli is None:
        return "the docker CLI is not installed"
    try:
        out = subprocess.run(
            [cli, "buildx", "version"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"docker buildx does not run: {exc}"
    if out.returncode != 0:
        return "docker buildx is not installed (run scripts/setup.sh)"
    return docker_engine.availability()


def _die_with_parent() -> None:
    """In the child before exec: ask Linux for SIGKILL when the thread that started us dies."""
    import ctypes

    pr_set_pdeathsig = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: the build may outlive a killed server; the reconciler sweeps its image


def buildx_command(cli: str, request: BuildRequest, metadata_file: Path) -> list[str]:
    cmd = [
        cli,
        "buildx",
        "build",
        "--progress=plain",
        "--load",
        "--metadata-file",
        str(metadata_file),
        "--file",
        str(request.context / request.dockerfile),
    ]
    if request.target:
        cmd += ["--target", request.target]
    for tag in request.tags:
        cmd += ["--tag", tag]
    for key, value in sorted(request.labels.items()):
        cmd += ["--label", f"{key}={value}"]
    for key, value in sorted(request.build_args.items()):
        cmd += ["--build-arg", f"{key}={value}"]
    for secret_id, path in sorted(request.secrets.items()):
        cmd += ["--secret", f"id={secret_id},src={path}"]
    # With the engine's docker driver, layers of earlier builds are reused from the engine's own
    # store; the inline cache metadata also lets a registry copy of the image serve as cache.
    cmd += ["--build-arg", "BUILDKIT_INLINE_CACHE=1"]
    # "--" ends options, so a context path can never be read as one.
    return [*cmd, "--", str(request.context)]


class BuildxBuilder(DockerBuilder):
    """Removing images works as for the docker builder: both live in the engine's store."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)

    def build(self, request: BuildRequest, log: LogSink) -> Image:
        request.cancel.raise_if_cancelled()
        check_build_args(request.build_args, request.labels)
        api = docker_engine.client().api
        try:
            docker_engine.check_floors(self.settings, api)
        finally:
            api.close()
        cli = docker_cli()
        if cli is None:
            raise BuildError("the docker CLI is not installed")
        with tempfile.TemporaryDirectory(prefix="machete-buildx-") as tmp:
            metadata_file = Path(tmp) / "metadata.json"
            cmd = buildx_command(cli, request, metadata_file)
            env = {**os.environ, "BUILDX_NO_DEFAULT_ATTESTATIONS": "1", "NO_COLOR": "1"}
            proc = subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # so a timeout or cancel can stop the whole group
                # ...and it dies with us: a server killed with -9 must not leave a build
                # that tags an image after the next start has reconciled.
                preexec_fn=_die_with_parent,
            )
            stop_reason: list[str] = []

            def kill(reason: str) -> None:
                if not stop_reason and proc.poll() is None:
                    stop_reason.append(reason)
                    try:
                        os.killpg(proc.pid, signal.SIGTERM)
                    except ProcessLookupError:
                        pass

            timer = threading.Timer(request.timeout, kill, args=("timeout",))
            timer.daemon = True
            timer.start()
            request.cancel.on_cancel(lambda: kill("cancelled"))
            last: deque[str] = deque(maxlen=LAST_LINES)
            started = time.monotonic()
            try:
                assert proc.stdout is not None
                for raw in proc.stdout:
                    line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                    last.append(line)
                    log(line)
                code = proc.wait()
            finally:
                timer.cancel()
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            if stop_reason == ["timeout"]:
                raise BuildTimeoutError(
                    f"the build took longer than {request.timeout:g}s and was stopped",
                    last_lines=list(last),
                )
            if stop_reason == ["cancelled"]:
                raise CancelledError("the build was cancelled")
            if code != 0:
                reason = next((x for x in reversed(last) if "ERROR" in x), f"exit code {code}")
                raise BuildError(f"docker buildx build failed: {reason}", last_lines=list(last))
            image_id = self._image_id(metadata_file, request)
        log(f"build finished in {time.monotonic() - started:.1f}s")
        return Image(id=image_id, tags=tuple(request.tags))

    @staticmethod
    def _image_id(metadata_file: Path, request: BuildRequest) -> str:
        try:
            meta = json.loads(metadata_file.read_text())
            config = meta.get("containerimage.config.digest")
            if isinstance(config, str) and config.startswith("sha256:"):
                return config
        except (OSError, ValueError):
            pass
        client = docker_engine.client()
        try:
            return str(client.api.inspect_image(request.tags[0])["Id"])
        finally:
            client.close()


@hookimpl
def machete_register_builders() -> list[BuilderProvider]:
    return [
        BuilderProvider(
            name="buildx",
            factory=BuildxBuilder,
            description="docker buildx build (BuildKit) as a subprocess",
            availability=availability,
        )
    ]
