"""Checks before a build: a Dockerfile pre-scan, build arguments and base images (free disk
space is diskspace.py)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from machete_core.errors import BaseImageRefusedError, UnsafeDockerfileError
from machete_core.manifest.dockerfile import (
    arg,
    global_args,
    logical_lines,
    substitute,
    unquote,
    without_tag,
)


def frontend_repository(reference: str) -> str:
    """``docker.io/docker/dockerfile:1.7@sha256:...`` -> ``docker/dockerfile``."""
    name = without_tag(reference)
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def prescan_dockerfile(
    path: Path,
    *,
    allow_frontends: bool,
    build_args: Mapping[str, str] | None = None,
    allowed_frontends: tuple[str, ...] = (),
) -> None:
    """Refuse what has let Dockerfiles escape builders.

    A ``# syntax=`` directive makes BuildKit download and run a frontend image of the author's
    choosing (CVE-2024-23653 class); a ``WORKDIR`` under ``/proc`` was the runc escape
    (CVE-2024-21626), also when reached through a variable or a relative path.
    """
    text = path.read_text(encoding="utf-8", errors="replace")
    directives, instructions = logical_lines(text)
    syntax = directives.get("syntax")
    if (
        syntax is not None
        and not allow_frontends
        and frontend_repository(syntax) not in allowed_frontends
    ):
        raise UnsafeDockerfileError(
            f"the Dockerfile asks for the build frontend {syntax!r} (# syntax=), which would "
            "run code of the author's choosing in the builder; remove the line, or have an "
            "admin allow that frontend with `machete settings set allowed_dockerfile_frontends "
            f"{','.join([*allowed_frontends, frontend_repository(syntax)])}`"
        )
    args = dict(build_args or {})
    globals_ = global_args(instructions, args)
    env: dict[str, str] = {}
    workdir = "/"
    for line in instructions:
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            env, workdir = {}, "/"
        elif word == "ARG":
            name, value = arg(rest, args, globals_)
            env.setdefault(name, value)
        elif word == "ENV":
            for pair in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|'[^']*'|\S+)", rest):
                env[pair[0]] = substitute(unquote(pair[1]), env)
            if "=" not in rest and rest.strip():
                name, _, value = rest.strip().partition(" ")
                env[name] = substitute(value.strip(), env)
        elif word == "WORKDIR":
            target = substitute(unquote(rest), env).strip()
            workdir = posixpath.normpath(posixpath.join(workdir, target))
            if workdir == "/proc" or workdir.startswith("/proc/"):
                raise UnsafeDockerfileError(
                    f"WORKDIR {rest.strip()} (which is {workdir}) is refused (container "
                    "escape pattern)"
                )


def check_base_images(
    images: list[str],
    labels_of: Callable[[str], dict[str, str] | None],
    *,
    tool: str,
    installation: str,
    allowed: tuple[str, ...],
    registry: str,
) -> None:
    """Refuse a base that is MACHETE's build of another tool or installation: a tool must not
    read another's files by building on its image. Checked on the image the name resolves to
    (its labels), not on the name."""
    for image in images:
        if image in allowed:
            continue
        if registry and image.startswith(f"{registry.rstrip('/')}/machete-"):
            raise BaseImageRefusedError(
                f"FROM {image}: images in MACHETE's registry namespace belong to tools; an "
                "admin can allow a shared base with MACHETE_ALLOWED_BASE_IMAGES"
            )
        found = labels_of(image)
        if not found or "io.machete.tool" not in found:
            continue
        if (
            found.get("io.machete.tool") == tool
            and found.get("io.machete.installation") == installation
        ):
            continue  # its own earlier release
        raise BaseImageRefusedError(
            f"FROM {image}: that image is MACHETE's build of the tool "
            f"{found.get('io.machete.tool')!r}; a tool may not build on another tool's image. "
            "An admin can allow a shared base with MACHETE_ALLOWED_BASE_IMAGES"
        )
