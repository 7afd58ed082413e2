"""The ``docker`` builder: the Engine API's build endpoint through the docker SDK."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from machete_core.domain.records import BuildRequest, Image, LogSink
from machete_core.errors import BuildError, BuildTimeoutError, CancelledError
from machete_core.manifest.dockerfile import check_build_args, without_tag
from machete_core.plugins import hookimpl
from machete_core.plugins.records import BuilderProvider
from machete_core.settings import Settings
from machete_plugins import docker_engine

LAST_LINES = 30


def read_dockerignore(context: Path) -> list[str] | None:
    path = context / ".dockerignore"
    if not path.is_file():
        return None
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


class DockerBuilder:
    """Builds with the engine's own builder, streaming each output line as it arrives.

    Cancellation and the timeout shut the HTTP connection down; the engine then aborts the
    build and removes its intermediate containers (``forcerm``).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def build(self, request: BuildRequest, log: LogSink) -> Image:
        from docker.utils import build as build_utils

        request.cancel.raise_if_cancelled()
        check_build_args(request.build_args, request.labels)
        if request.secrets:
            log(
                f"note: the classic builder cannot offer build secrets "
                f"({', '.join(sorted(request.secrets))}); the buildx builder can"
            )
        api = docker_engine.client().api
        try:
            docker_engine.check_floors(self.settings, api)
            context = build_utils.tar(
                str(request.context),
                exclude=read_dockerignore(request.context),
                dockerfile=(request.dockerfile, None),
                gzip=False,
            )
            return self._stream(api, request, context, log)
        finally:
            api.close()

    @docker_engine.engine_errors("docker build")
    def _stream(self, api: Any, request: BuildRequest, context: Any, log: LogSink) -> Image:
        params = {
            "t": request.tags[0] if request.tags else None,
            "dockerfile": request.dockerfile,
            "rm": True,
            "forcerm": True,
            "pull": False,
            "labels": json.dumps(dict(request.labels)),
        }
        if request.target:
            params["target"] = request.target
        if request.build_args:
            params["buildargs"] = json.dumps(dict(request.build_args))
        response = api._post(
            api._url("/build"),
            data=context,
            params=params,
            headers={"Content-Type": "application/tar"},
            stream=True,
            timeout=None,
        )
        if 400 <= response.status_code < 500:
            # The engine refused the build itself (a Dockerfile it cannot parse, a stage it
            # cannot find): the tool's build failed, the engine is fine.
            explanation = _explanation(response)
            log(explanation)
            raise BuildError(f"docker build failed: {explanation}", last_lines=[explanation])
        api._raise_for_status(response)
        stop_reason: list[str] = []
        raw = api._get_raw_response_socket(response)
        sock = getattr(raw, "_sock", raw)  # over a unix socket this is a SocketIO wrapper

        def abort(reason: str) -> None:
            if not stop_reason:
                stop_reason.append(reason)
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        timer = threading.Timer(request.timeout, abort, args=("timeout",))
        timer.daemon = True
        timer.start()
        request.cancel.on_cancel(lambda: abort("cancelled"))
        last: deque[str] = deque(maxlen=LAST_LINES)
        image_id: str | None = None
        error: str | None = None
        pending = ""
        started = time.monotonic()
        try:
            for chunk in api._stream_helper(response, decode=True):
                if "stream" in chunk:
                    pending += chunk["stream"]
                    *lines, pending = pending.split("\n")
                    for line in lines:
                        last.append(line)
                        log(line)
                elif "status" in chunk:
                    line = chunk["status"] + (
                        f" {chunk['progress']}" if chunk.get("progress") else ""
                    )
                    last.append(line)
                    log(line)
                if "aux" in chunk and isinstance(chunk["aux"], dict) and "ID" in chunk["aux"]:
                    image_id = chunk["aux"]["ID"]
                if "error" in chunk:
                    error = str(chunk["error"]).strip()
        except Exception:
            if not stop_reason:
                raise
        finally:
            timer.cancel()
            response.close()
        if pending:
            last.append(pending)
            log(pending)
        if stop_reason == ["timeout"]:
            raise BuildTimeoutError(
                f"the build took longer than {request.timeout:g}s and was stopped",
                last_lines=list(last),
            )
        if stop_reason == ["cancelled"]:
            raise CancelledError("the build was cancelled")
        if error:
            log(error)
            last.append(error)
            raise BuildError(f"docker build failed: {error}", last_lines=list(last))
        if image_id is None and request.tags:
            image_id = api.inspect_image(request.tags[0])["Id"]
        if image_id is None:
            raise BuildError("docker build reported no image", last_lines=list(last))
        log(f"build finished in {time.monotonic() - started:.1f}s")
        return Image(id=image_id, tags=tuple(request.tags))

    def image_exists(self, image: str) -> bool:
        import docker

        c = docker_engine.client()
        try:
            c.api.inspect_image(image)
            return True
        except docker.errors.ImageNotFound:
            return False
        finally:
            c.close()

    def image_digest(self, reference: str) -> str:
        """``reference`` pinned: a local copy's repository digest, else the registry's answer
        through the engine."""
        import docker

        repository = without_tag(reference)
        c = docker_engine.client()
        try:
            try:
                local = c.api.inspect_image(reference)
                for digest in local.get("RepoDigests") or ():
                    name, _at, sha = digest.partition("@")
                    if name.endswith(repository.split("/", 1)[-1]) and sha:
                        return f"{repository}@{sha}"
            except docker.errors.APIError:
                pass  # not here: ask its registry
            try:
                found = c.api.inspect_distribution(reference)
            except docker.errors.APIError as exc:
                detail = exc.explanation or str(exc)
                raise BuildError(
                    f"the Dockerfile's frontend {reference} (# syntax=) cannot be fetched: its "
                    f"registry cannot be reached from this machine ({detail}). Remove the line "
                    "(the built-in Dockerfile frontend builds the same file), or make the "
                    "registry reachable"
                ) from None
        finally:
            c.close()
        return f"{repository}@{found['Descriptor']['digest']}"

    def image_labels(self, image: str) -> dict[str, str] | None:
        import docker

        c = docker_engine.client()
        try:
            found = c.api.inspect_image(image)
        except (docker.errors.ImageNotFound, docker.errors.NotFound):
            return None
        except docker.errors.APIError as exc:
            if exc.status_code in (400, 404):
                return None  # not a name the engine can look up: the build will say so
            raise
        finally:
            c.close()
        return dict((found.get("Config") or {}).get("Labels") or {})

    def list_images(self, selector: Mapping[str, str]) -> list[Image]:
        """Images carrying every label of ``selector`` (the reconciler's orphan sweep)."""
        c = docker_engine.client()
        try:
            found = c.api.images(filters={"label": [f"{k}={v}" for k, v in selector.items()]})
        finally:
            c.close()
        return [
            Image(id=i["Id"], tags=tuple(i.get("RepoTags") or ()), labels=i.get("Labels") or {})
            for i in found
        ]

    def remove_image(self, image: str) -> None:
        import docker

        if not image:
            return
        c = docker_engine.client()
        try:
            c.api.remove_image(image, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if exc.status_code != 409:
                raise
        finally:
            c.close()


@hookimpl
def machete_register_builders() -> list[BuilderProvider]:
    return [
        BuilderProvider(
            name="docker",
            factory=DockerBuilder,
            description="Docker Engine API build (docker SDK)",
            availability=docker_engine.availability,
        )
    ]


def _explanation(response: Any) -> str:
    try:
        return str(response.json().get("message", "")).strip() or response.reason
    except ValueError:
        return (response.text or response.reason or "").strip()
