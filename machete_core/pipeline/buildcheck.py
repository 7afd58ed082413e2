"""Checks before a build: a Dockerfile pre-scan, build arguments and base images (free disk
space is diskspace.py)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from machete_core.errors import BaseImageRefusedError, UnsafeDockerfileError

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z_]+)\s*=\s*(.*?)\s*$")
_VAR = re.compile(
    r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))"
)
#: Build arguments and labels that choose or steer BuildKit's frontend; a tool's author never
#: gets to pick the code that runs in the builder.
_FRONTEND_ARG = re.compile(r"^(BUILDKIT_|BUILDX_|DOCKERFILE_)|^(SYNTAX|FRONTEND)$", re.IGNORECASE)


def check_build_args(
    build_args: Mapping[str, str], labels: Mapping[str, str] | None = None
) -> None:
    """Refuse build arguments and labels that select a frontend (``BUILDKIT_SYNTAX`` ran an
    image of the author's choice as BuildKit's frontend)."""
    for key in [*build_args, *(labels or {})]:
        if _FRONTEND_ARG.search(key) or key.lower().startswith("moby.buildkit"):
            raise UnsafeDockerfileError(
                f"the build argument or label {key!r} would select or steer BuildKit's "
                "frontend; BUILDKIT_* and frontend-selecting keys are refused"
            )
        if "\0" in key or "\0" in (build_args.get(key) or ""):
            raise UnsafeDockerfileError(f"the build argument {key!r} contains NUL")


def _logical_lines(text: str) -> tuple[dict[str, str], list[str]]:
    """Parser directives, then instructions with line continuations joined (BuildKit's
    rules: directives only before the first instruction or comment; ``# escape=`` sets the
    continuation character)."""
    text = text.lstrip("\ufeff")
    directives: dict[str, str] = {}
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        match = _DIRECTIVE.match(lines[index].strip())
        if not match:
            break
        directives[match.group(1).lower()] = match.group(2)
        index += 1
    escape = directives.get("escape", "\\")[:1] or "\\"
    out: list[str] = []
    pending = ""
    for raw in lines[index:]:
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # comments inside a continued instruction are dropped
        if stripped.endswith(escape):
            # The escape and newline vanish; the next line's indentation is dropped.
            pending += stripped[:-1]
            continue
        out.append(pending + stripped)
        pending = ""
    if pending:
        out.append(pending)
    return directives, out


def _substitute(value: str, env: Mapping[str, str]) -> str:
    def repl(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(4)
        op, word = match.group(2) or "", match.group(3) or ""
        found = env.get(name)
        present = bool(found) if op.startswith(":") else found is not None
        if op.endswith("+"):
            return word if present else ""
        return (found or "") if present else word

    for _ in range(5):  # nested references resolve in a few rounds; more is an attack
        new = _VAR.sub(repl, value)
        if new == value:
            break
        value = new
    return value


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _arg(rest: str, build_args: Mapping[str, str], defaults: Mapping[str, str]) -> tuple[str, str]:
    """``ARG NAME[=default]``: a build argument wins, then the default written here, then (for
    ``ARG NAME`` inside a stage) the global ``ARG``'s default, as BuildKit resolves them."""
    name, eq, default = rest.strip().partition("=")
    name = name.strip()
    if name in build_args:
        return name, build_args[name]
    return name, _unquote(default) if eq else defaults.get(name, "")


def _global_args(instructions: list[str], build_args: Mapping[str, str]) -> dict[str, str]:
    """The ``ARG``s before the first ``FROM`` (usable in ``FROM`` lines and redeclared stages)."""
    found: dict[str, str] = {}
    for line in instructions:
        word, _, rest = line.partition(" ")
        if word.upper() != "ARG":
            break
        name, value = _arg(rest, build_args, {})
        found[name] = value
    return found


def prescan_dockerfile(
    path: Path, *, allow_frontends: bool, build_args: Mapping[str, str] | None = None
) -> None:
    """Refuse what has let Dockerfiles escape builders.

    A ``# syntax=`` directive makes BuildKit download and run a frontend image of the author's
    choosing (CVE-2024-23653 class); a ``WORKDIR`` under ``/proc`` was the runc escape
    (CVE-2024-21626), also when reached through a variable or a relative path.
    """
    text = path.read_text(encoding="utf-8", errors="replace")
    directives, instructions = _logical_lines(text)
    if "syntax" in directives and not allow_frontends:
        raise UnsafeDockerfileError(
            f"the Dockerfile asks for the build frontend {directives['syntax']!r} (# syntax=), "
            "which would run code of the author's choosing in the builder; remove the line "
            "or have an admin set MACHETE_ALLOW_DOCKERFILE_FRONTENDS"
        )
    args = dict(build_args or {})
    globals_ = _global_args(instructions, args)
    env: dict[str, str] = {}
    workdir = "/"
    for line in instructions:
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            env, workdir = {}, "/"
        elif word == "ARG":
            name, value = _arg(rest, args, globals_)
            env.setdefault(name, value)
        elif word == "ENV":
            for pair in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|'[^']*'|\S+)", rest):
                env[pair[0]] = _substitute(_unquote(pair[1]), env)
            if "=" not in rest and rest.strip():
                name, _, value = rest.strip().partition(" ")
                env[name] = _substitute(value.strip(), env)
        elif word == "WORKDIR":
            target = _substitute(_unquote(rest), env).strip()
            workdir = posixpath.normpath(posixpath.join(workdir, target))
            if workdir == "/proc" or workdir.startswith("/proc/"):
                raise UnsafeDockerfileError(
                    f"WORKDIR {rest.strip()} (which is {workdir}) is refused (container "
                    "escape pattern)"
                )


def base_images(path: Path, build_args: Mapping[str, str] | None = None) -> list[str]:
    """The images the Dockerfile's stages start ``FROM``, with global ``ARG``s and build
    arguments substituted; ``scratch`` and references to earlier stages left out."""
    _directives, instructions = _logical_lines(path.read_text(encoding="utf-8", errors="replace"))
    env = _global_args(instructions, dict(build_args or {}))
    stages: set[str] = set()
    found: list[str] = []
    for line in instructions:
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            parts = [p for p in rest.split() if not p.startswith("--")]
            if not parts:
                continue
            image = _substitute(parts[0], env)
            earlier = image.lower() in stages
            if len(parts) >= 3 and parts[1].upper() == "AS":
                stages.add(parts[2].lower())
            if image.lower() == "scratch" or earlier:
                continue
            found.append(image)
    return found


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
