"""``# syntax=`` frontends: Docker's official ones allowed by default (others refused, naming
the setting), and pinned by digest for the build."""

from __future__ import annotations

from pathlib import Path

import pytest

from machete_core.errors import BuildError, UnsafeDockerfileError
from machete_core.pipeline.buildcheck import frontend_repository, prescan_dockerfile
from machete_core.pipeline.frontends import pin_frontend
from machete_core.settings import Settings

OFFICIAL = Settings().allowed_dockerfile_frontends


@pytest.mark.parametrize(
    ("reference", "repository"),
    [
        ("docker/dockerfile:1", "docker/dockerfile"),
        ("docker.io/docker/dockerfile:1.7-labs", "docker/dockerfile"),
        ("docker/dockerfile@sha256:" + "a" * 64, "docker/dockerfile"),
        ("127.0.0.1:5000/docker/dockerfile:1", "127.0.0.1:5000/docker/dockerfile"),
        ("evil/dockerfile:1", "evil/dockerfile"),
    ],
)
def test_frontend_repositories(reference: str, repository: str) -> None:
    assert frontend_repository(reference) == repository


def test_the_official_frontends_pass_by_default_and_others_name_the_setting(
    tmp_path: Path,
) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text("# syntax=docker/dockerfile:1\nFROM x\n")
    prescan_dockerfile(path, allow_frontends=False, allowed_frontends=OFFICIAL)
    path.write_text("# syntax=docker.io/docker/dockerfile:1.7\nFROM x\n")
    prescan_dockerfile(path, allow_frontends=False, allowed_frontends=OFFICIAL)
    path.write_text("# syntax=dockerr/dockerfile:1\nFROM x\n")
    with pytest.raises(UnsafeDockerfileError, match="allowed_dockerfile_frontends"):
        prescan_dockerfile(path, allow_frontends=False, allowed_frontends=OFFICIAL)


class Pins:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def build(self, request: object, log: object) -> object: ...
    def remove_image(self, image: str) -> None: ...
    def image_exists(self, image: str) -> bool:
        return True

    def image_digest(self, reference: str) -> str:
        self.asked.append(reference)
        if "unreachable" in reference:
            raise BuildError(f"the Dockerfile's frontend {reference} (# syntax=) cannot be fetched")
        return "docker/dockerfile@sha256:" + "b" * 64


def test_an_allowed_frontend_is_pinned_in_the_workspace_copy(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text("# syntax=docker/dockerfile:1\n# escape=\\\\\nFROM x\nRUN echo hi\n")
    said: list[str] = []
    builder = Pins()
    pinned = pin_frontend(path, builder, said.append)  # type: ignore[arg-type]
    assert pinned == "docker/dockerfile@sha256:" + "b" * 64
    assert path.read_text().splitlines()[0] == f"# syntax={pinned}"
    assert path.read_text().splitlines()[1:] == ["# escape=\\\\", "FROM x", "RUN echo hi"]
    assert said == [f"the Dockerfile's frontend docker/dockerfile:1 is pinned to {pinned}"]


def test_no_frontend_nothing_to_pin_and_an_unreachable_one_fails(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text("FROM x\n# syntax=late/comment\n")
    assert pin_frontend(path, Pins(), print) is None  # type: ignore[arg-type]
    path.write_text("# syntax=unreachable/dockerfile:1\nFROM x\n")
    with pytest.raises(BuildError, match="cannot be fetched"):
        pin_frontend(path, Pins(), print)  # type: ignore[arg-type]
