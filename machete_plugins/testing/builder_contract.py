"""The contract every builder must pass, as a pytest test class.

Both bundled builders run it; a third-party builder runs it too::

    from machete_plugins.testing.builder_contract import BuilderContract

    class TestMyBuilder(BuilderContract):
        @pytest.fixture
        def builder(self):
            return MyBuilder(Settings())

        @pytest.fixture
        def base_image(self):
            return "my-local-busybox:latest"   # a local image with /bin/sh

Images must land in the local Docker engine (the suite runs them to check their behaviour).
Needs pytest and a Docker engine.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from machete_core.domain.records import BuildRequest, CancelToken, Image
from machete_core.errors import BuildError, BuildTimeoutError, CancelledError
from machete_core.plugins.protocols import Builder

LABELS = {"io.machete.installation": "builder-contract"}


def run_image(image: str, *command: str) -> str:
    import docker

    client = docker.from_env()
    try:
        out = client.containers.run(image, list(command), remove=True, network_mode="none")
        return out.decode() if isinstance(out, bytes) else str(out)
    finally:
        client.close()


def layers(image: str) -> list[str]:
    import docker

    client = docker.from_env()
    try:
        return list(client.api.inspect_image(image)["RootFS"]["Layers"])
    finally:
        client.close()


def running_commands() -> list[str]:
    import docker

    client = docker.from_env()
    try:
        # The listing's own Command field: inspecting each container in turn fails on one
        # that another process removed meanwhile.
        return [str(c.get("Command") or "") for c in client.api.containers()]
    finally:
        client.close()


class BuilderContract:
    """Same fixtures, same expectations, for every builder."""

    @pytest.fixture
    def builder(self) -> Builder:
        pytest.fail("a BuilderContract subclass must define the 'builder' fixture")

    @pytest.fixture
    def base_image(self) -> str:
        pytest.fail("a BuilderContract subclass must define the 'base_image' fixture")

    @pytest.fixture
    def tags(self, builder: Builder) -> Iterator[list[str]]:
        made: list[str] = []
        yield made
        for tag in made:
            builder.remove_image(tag)

    def tree(self, root: Path, base_image: str, files: dict[str, str], run: str = "") -> Path:
        root.mkdir(parents=True, exist_ok=True)
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        (root / "Dockerfile").write_text(
            f"FROM {base_image}\nRUN echo stable-layer > /stable.txt\nCOPY . /app\n{run}"
            'CMD ["cat", "/app/hello.txt"]\n'
        )
        return root

    def build(
        self, builder: Builder, context: Path, tags: list[str], **kw: Any
    ) -> tuple[Image, list[tuple[float, str]]]:
        tag = f"machete-contract-{uuid.uuid4().hex[:10]}:latest"
        tags.append(tag)
        lines: list[tuple[float, str]] = []
        request = BuildRequest(
            tool="contract",
            context=context,
            dockerfile="Dockerfile",
            tags=(tag,),
            labels=LABELS,
            timeout=kw.pop("timeout", 600.0),
            **kw,
        )
        image = builder.build(request, lambda line: lines.append((time.monotonic(), line)))
        return image, lines

    def test_builds_an_image_that_behaves(
        self, builder: Builder, base_image: str, tags: list[str], tmp_path: Path
    ) -> None:
        ctx = self.tree(tmp_path / "c", base_image, {"hello.txt": "hello from the contract\n"})
        image, _lines = self.build(builder, ctx, tags)
        assert image.id.startswith("sha256:") and image.tags == (tags[0],)
        assert run_image(tags[0]) == "hello from the contract\n"
        assert builder.image_exists(image.id)

    def test_build_args(
        self, builder: Builder, base_image: str, tags: list[str], tmp_path: Path
    ) -> None:
        run = "ARG FLAVOUR=plain\nRUN echo $FLAVOUR > /flavour.txt\n"
        ctx = self.tree(tmp_path / "c", base_image, {"hello.txt": "x\n"}, run=run)
        self.build(builder, ctx, tags, build_args={"FLAVOUR": "spicy"})
        assert run_image(tags[0], "cat", "/flavour.txt") == "spicy\n"

    def test_labels_are_on_the_image(
        self, builder: Builder, base_image: str, tags: list[str], tmp_path: Path
    ) -> None:
        import docker

        ctx = self.tree(tmp_path / "c", base_image, {"hello.txt": "x\n"})
        image, _ = self.build(builder, ctx, tags)
        client = docker.from_env()
        try:
            labels = client.api.inspect_image(image.id)["Config"]["Labels"]
        finally:
            client.close()
        assert labels["io.machete.installation"] == "builder-contract"

    def test_lines_stream_while_the_build_runs(
        self, builder: Builder, base_image: str, tags: list[str], tmp_path: Path
    ) -> None:
        nonce = uuid.uuid4().hex  # never a cache hit, so the step really runs
        run = f"RUN echo contract-marker-one {nonce} && sleep 3 && echo contract-marker-two\n"
        ctx = self.tree(tmp_path / "c", base_image, {"hello.txt": "x\n"}, run=run)
        _image, lines = self.build(builder, ctx, tags)
        finished = time.monotonic()
        first = next(t for t, line in lines if "contract-marker-one" in line and "echo" not in line)
        assert any("contract-marker-two" in line and "echo" not in line for _t, line in lines)
        # The line arrived while the step still slept, not in one batch at the end.
        assert finished - first > 1.5

    def test_failure_carries_the_last_lines(
        self, builder: Builder, base_image: str, tags: list[str], tmp_path: Path
    ) -> None:
        run = "RUN echo contract-failing-step && exit 3\n"
        ctx = self.tree(tmp_path / "c", base_image, {"hello.txt": "x\n"}, run=run)
        with pytest.raises(BuildError) as info:
            self.build(builder, ctx, tags)
        assert any("contract-failing-step" in line for line in info.value.last_lines)
        assert info.value.code == "build_failed"

    def test_one_file_change_reuses_cached_layers(
        self, builder: Builder, base_image: str, tags: list[str], tmp_path: Path
    ) -> None:
        ctx = self.tree(tmp_path / "c", base_image, {"hello.txt": "one\n", "other.txt": "same\n"})
        self.build(builder, ctx, tags)
        (ctx / "hello.txt").write_text("two\n")
        self.build(builder, ctx, tags)
        first, second = layers(tags[0]), layers(tags[1])
        # Base and the RUN layer are shared; only the COPY layer differs.
        assert first[:-1] == second[:-1] and first[-1] != second[-1]
        assert run_image(tags[1]) == "two\n"

    def test_dockerignore_is_honoured(
        self, builder: Builder, base_image: str, tags: list[str], tmp_path: Path
    ) -> None:
        files = {"hello.txt": "x\n", "secret.env": "nope\n", ".dockerignore": "secret.env\n"}
        ctx = self.tree(tmp_path / "c", base_image, files)
        self.build(builder, ctx, tags)
        assert run_image(tags[0], "ls", "/app").split() == ["Dockerfile", "hello.txt"]

    def _stops(
        self, builder: Builder, base_image: str, tags: list[str], tmp_path: Path, *, cancel: bool
    ) -> type[BaseException]:
        run = "RUN echo contract-long-step && sleep 120\n"
        ctx = self.tree(tmp_path / "c", base_image, {"hello.txt": "x\n"}, run=run)
        token = CancelToken()
        if cancel:
            threading.Timer(2.0, token.cancel).start()
        started = time.monotonic()
        with pytest.raises((CancelledError, BuildTimeoutError)) as info:
            self.build(builder, ctx, tags, cancel=token, timeout=600.0 if cancel else 2.0)
        assert time.monotonic() - started < 60  # far less than the step's 120 s
        deadline = time.monotonic() + 30
        while any("sleep 120" in cmd for cmd in running_commands()):
            assert time.monotonic() < deadline, "the build's step kept running"
            time.sleep(0.5)
        return type(info.value)

    def test_cancel_stops_the_build(
        self, builder: Builder, base_image: str, tags: list[str], tmp_path: Path
    ) -> None:
        assert self._stops(builder, base_image, tags, tmp_path, cancel=True) is CancelledError

    def test_timeout_stops_the_build(
        self, builder: Builder, base_image: str, tags: list[str], tmp_path: Path
    ) -> None:
        assert self._stops(builder, base_image, tags, tmp_path, cancel=False) is BuildTimeoutError
