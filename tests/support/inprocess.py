"""Providers that run a whole deploy in this process: a source that writes a tool, a builder
that "builds" it, and a runtime whose instances answer at a loopback HTTP server of the test's
own. For testing the pipeline's records (steps, actors, params) without a daemon; the real
providers are tested in tests/integration."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from machete_core.domain.records import (
    BuildRequest,
    Endpoint,
    Image,
    Instance,
    InstanceState,
    Locator,
    LogSink,
    Revision,
    RunPlan,
)
from machete_core.plugins import hookimpl
from machete_core.plugins.records import BuilderProvider, RuntimeProvider, SourceProvider
from machete_core.settings import Settings

MANIFEST = "machete:\n  builder: inproc\n  runtime: inproc\n  health_check: /health\n"


class _Healthy(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


class InlineSource:
    def __init__(self, settings: Settings) -> None:
        pass

    def resolve(self, locator: Locator) -> str | None:
        return None

    def fetch(self, locator: Locator, dest: Path, log: LogSink) -> Revision:
        (dest / "Dockerfile").write_text("FROM scratch\n")
        (dest / "machete.yml").write_text(MANIFEST)
        return Revision(digest="sha256:" + locator.url.encode().hex()[:64].ljust(64, "0"))


class InprocBuilder:
    def __init__(self, settings: Settings) -> None:
        pass

    def build(self, request: BuildRequest, log: LogSink) -> Image:
        log("built in no time")
        return Image(id="sha256:" + "1" * 64)

    def remove_image(self, image: str) -> None:
        pass

    def image_exists(self, image: str) -> bool:
        return True


class InprocRuntime:
    server: ThreadingHTTPServer | None = None

    def __init__(self, settings: Settings) -> None:
        self._states: dict[str, str] = {}

    @classmethod
    def serve(cls) -> None:
        if cls.server is None:
            cls.server = ThreadingHTTPServer(("127.0.0.1", 0), _Healthy)
            threading.Thread(target=cls.server.serve_forever, daemon=True).start()

    def start(self, plan: RunPlan) -> Instance:
        self._states[plan.name] = "running"
        return Instance(id=plan.name, name=plan.name)

    def stop(self, instance_id: str, timeout: float = 10.0) -> None:
        self._states[instance_id] = "exited"

    def resume(self, instance_id: str) -> None:
        self._states[instance_id] = "running"

    def remove(self, instance_id: str) -> None:
        self._states.pop(instance_id, None)

    def inspect(self, instance_id: str) -> InstanceState:
        state = self._states.get(instance_id, "missing")
        return InstanceState(id=instance_id, name=instance_id, state=state)

    def list(self, selector: Mapping[str, str]) -> list[InstanceState]:
        return [self.inspect(i) for i in self._states]

    def logs(
        self, instance_id: str, *, tail: int | None = None, follow: bool = False
    ) -> Iterator[str]:
        yield f"{instance_id} says hello"
        while follow and instance_id in self._states:
            time.sleep(0.05)

    def endpoint(self, instance_id: str, port: int) -> Endpoint:
        assert self.server is not None
        return Endpoint("127.0.0.1", self.server.server_address[1])

    def cleanup(self, selector: Mapping[str, str]) -> None:
        pass


class InprocPlugin:
    @hookimpl
    def machete_register_sources(self) -> list[SourceProvider]:
        return [SourceProvider(name="inline", factory=InlineSource, handles=lambda url: False)]

    @hookimpl
    def machete_register_builders(self) -> list[BuilderProvider]:
        return [BuilderProvider(name="inproc", factory=InprocBuilder)]

    @hookimpl
    def machete_register_runtimes(self) -> list[RuntimeProvider]:
        InprocRuntime.serve()
        return [RuntimeProvider(name="inproc", factory=InprocRuntime)]
