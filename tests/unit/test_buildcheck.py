from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from machete_core.diskspace import check_free_disk
from machete_core.domain.records import CancelToken
from machete_core.errors import MacheteError, UnsafeDockerfileError
from machete_core.machete import create_machete
from machete_core.manifest import load_manifest_text
from machete_core.manifest.dockerfile import check_build_args
from machete_core.pipeline.buildcheck import (
    prescan_dockerfile,
)
from machete_core.settings import Settings


@pytest.mark.parametrize(
    "text",
    [
        "# syntax=evil/frontend:latest\nFROM x\n",
        "#syntax = docker.io/evil/x\nFROM x\n",
        "# escape=`\n# syntax=evil/x\nFROM x\n",
        "FROM x\nWORKDIR /proc/self/fd/7\n",
        "FROM x\nworkdir /proc/1/cwd\n",
    ],
)
def test_hostile_dockerfiles_are_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    with pytest.raises(MacheteError) as info:
        prescan_dockerfile(path, allow_frontends=False)
    assert info.value.code == "unsafe_dockerfile"


@pytest.mark.parametrize(
    "text",
    [
        "FROM x\n# syntax=evil/x is only a comment here\nRUN true\n",
        "FROM x\nWORKDIR /app\n",
    ],
)
def test_ordinary_dockerfiles_pass(tmp_path: Path, text: str) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    prescan_dockerfile(path, allow_frontends=False)


def test_frontends_when_an_admin_allows_them(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text("# syntax=docker/dockerfile:1\nFROM x\n")
    prescan_dockerfile(path, allow_frontends=True)


def test_free_disk(tmp_path: Path) -> None:
    check_free_disk(tmp_path, 1)
    with pytest.raises(MacheteError) as info:
        check_free_disk(tmp_path, 2**62)
    assert info.value.code == "disk_full" and info.value.http_status == 507


def test_per_tool_build_timeout_in_the_manifest() -> None:
    spec = load_manifest_text("machete:\n  build_timeout: 90\n", fmt="machete.yml").spec
    assert spec.build_timeout == 90


def test_concurrent_builds_are_bounded(tmp_path: Path) -> None:
    m = create_machete(Settings(home=tmp_path, max_concurrent_builds=1))
    waits: list[str] = []
    inside = threading.Event()
    release = threading.Event()
    run = SimpleNamespace(log=SimpleNamespace(write=waits.append), cancel=CancelToken())

    def first() -> None:
        with m.core.build_slot(run.cancel, waits.append):
            inside.set()
            release.wait(10)

    t = threading.Thread(target=first)
    t.start()
    inside.wait(10)
    second_done = threading.Event()

    def second() -> None:
        with m.core.build_slot(run.cancel, waits.append):
            second_done.set()

    t2 = threading.Thread(target=second)
    t2.start()
    time.sleep(0.3)
    assert not second_done.is_set() and waits == ["waiting for a free build slot"]
    release.set()
    t.join(10)
    t2.join(10)
    assert second_done.is_set()


@pytest.mark.parametrize(
    "dockerfile",
    [
        "\ufeff# syntax=evil/frontend\nFROM scratch\n",
        "#SYNTAX = evil/frontend\nFROM scratch\n",
        "FROM scratch\nARG D=/proc/self\nWORKDIR $D/fd/7\n",
        "FROM scratch\nENV P=/proc\nWORKDIR ${P}/self/fd/7\n",
        "FROM scratch\nWORKDIR /\\\n  proc/self/fd/7\n",
        "FROM scratch\nWORKDIR /proc/1/..\nWORKDIR self/fd/7\n",
        "FROM scratch\nWORKDIR /tmp\nWORKDIR ../proc/self/fd/7\n",
        "FROM scratch\nARG W\nWORKDIR ${W:-/proc/self/fd/8}\n",
        "# escape=`\nFROM scratch\nWORKDIR /`\nproc/self\n",
        "ARG D=/proc/self/fd\nFROM scratch\nARG D\nWORKDIR $D/7\n",
    ],
    ids=[
        "bom",
        "spaced-syntax",
        "arg",
        "env",
        "continuation",
        "relative",
        "dotdot",
        "default",
        "escape",
        "global-arg",
    ],
)
def test_prescan_sees_through_encodings_variables_and_relative_paths(
    tmp_path: Path, dockerfile: str
) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(dockerfile, encoding="utf-8")
    with pytest.raises(UnsafeDockerfileError):
        prescan_dockerfile(path, allow_frontends=False)


def test_prescan_uses_the_build_args_and_accepts_ordinary_files(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text("FROM scratch\nARG W=/app\nWORKDIR $W\nWORKDIR sub\n")
    prescan_dockerfile(path, allow_frontends=False)
    with pytest.raises(UnsafeDockerfileError):
        prescan_dockerfile(path, allow_frontends=False, build_args={"W": "/proc/self/fd/3"})


@pytest.mark.parametrize(
    "key", ["BUILDKIT_SYNTAX", "buildkit_syntax", "BUILDKIT_CACHE_MOUNT_NS", "BUILDX_X", "SYNTAX"]
)
def test_frontend_selecting_build_args_are_refused(key: str) -> None:
    with pytest.raises(UnsafeDockerfileError):
        check_build_args({key: "evil/frontend:latest"})
    with pytest.raises(UnsafeDockerfileError):
        check_build_args({}, {"moby.buildkit.frontend": "x"})
    check_build_args({"VERSION": "1.2"})


def test_engine_floors_are_read_from_the_engine_answer() -> None:
    from machete_plugins.docker_engine import floor_problems

    old = {"Version": "20.10.24+dfsg1", "Components": [{"Name": "runc", "Version": "1.1.5+ds1"}]}
    assert len(floor_problems(old)) == 2
    new = {"Version": "25.0.2", "Components": [{"Name": "runc", "Version": "1.1.12"}]}
    assert floor_problems(new) == []


def test_base_images_are_read_through_args_and_stages(tmp_path: Path) -> None:
    from machete_core.manifest.dockerfile import base_images

    path = tmp_path / "Dockerfile"
    path.write_text(
        "ARG BASE=debian:12\nARG V\nFROM --platform=linux/amd64 $BASE AS build\n"
        "FROM scratch\nFROM build\nFROM other:${V:-1}\n"
    )
    assert base_images(path) == ["debian:12", "other:1"]
    assert base_images(path, {"BASE": "machete-x-vault:r1"}) == ["machete-x-vault:r1", "other:1"]


def test_another_tools_image_is_refused_by_its_labels_not_its_name() -> None:
    from machete_core.errors import BaseImageRefusedError
    from machete_core.pipeline.buildcheck import check_base_images

    images = {
        "innocent:latest": {"io.machete.tool": "vault", "io.machete.installation": "a"},
        "own": {"io.machete.tool": "me", "io.machete.installation": "a"},
        "debian:12": {},
    }

    def check(name: str, allowed: tuple[str, ...] = ()) -> None:
        check_base_images(
            [name], images.get, tool="me", installation="a", allowed=allowed, registry="r:5000"
        )

    with pytest.raises(BaseImageRefusedError, match="vault"):
        check("innocent:latest")  # a MACHETE image under a harmless name
    check("innocent:latest", allowed=("innocent:latest",))
    check("own")
    check("debian:12")
    check("missing:1")
    with pytest.raises(BaseImageRefusedError):
        check("r:5000/machete-a/vault@sha256:" + "0" * 64)
