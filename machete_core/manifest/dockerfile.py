"""Reading a Dockerfile as BuildKit does (BOM, parser directives, continuations with
``# escape=``, ``ARG``/``ENV`` substitution), and what it says about the tool it builds: its
stages, the final stage's ``EXPOSE``, ``HEALTHCHECK`` and ``USER``.

Used by the pre-build checks (``pipeline/buildcheck.py``) and by inference (``inference.py``).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from pathlib import Path

import attrs

from machete_core.errors import UnsafeDockerfileError

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


def without_tag(reference: str) -> str:
    """An image reference's repository: ``host:5000/team/x:1.2@sha256:...`` -> ``host:5000/team/x``
    (a registry's port is not a tag)."""
    name = reference.strip().split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    return name


def logical_lines(text: str) -> tuple[dict[str, str], list[str]]:
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


def substitute(value: str, env: Mapping[str, str]) -> str:
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


def unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def arg(rest: str, build_args: Mapping[str, str], defaults: Mapping[str, str]) -> tuple[str, str]:
    """``ARG NAME[=default]``: a build argument wins, then the default written here, then (for
    ``ARG NAME`` inside a stage) the global ``ARG``'s default, as BuildKit resolves them."""
    name, eq, default = rest.strip().partition("=")
    name = name.strip()
    if name in build_args:
        return name, build_args[name]
    return name, unquote(default) if eq else defaults.get(name, "")


def global_args(instructions: list[str], build_args: Mapping[str, str]) -> dict[str, str]:
    """The ``ARG``s before the first ``FROM`` (usable in ``FROM`` lines and redeclared stages)."""
    found: dict[str, str] = {}
    for line in instructions:
        word, _, rest = line.partition(" ")
        if word.upper() != "ARG":
            break
        name, value = arg(rest, build_args, {})
        found[name] = value
    return found


def base_images(path: Path, build_args: Mapping[str, str] | None = None) -> list[str]:
    """The images the Dockerfile's stages start ``FROM``, with global ``ARG``s and build
    arguments substituted; ``scratch`` and references to earlier stages left out."""
    _directives, instructions = logical_lines(path.read_text(encoding="utf-8", errors="replace"))
    env = global_args(instructions, dict(build_args or {}))
    stages: set[str] = set()
    found: list[str] = []
    for line in instructions:
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            parts = [p for p in rest.split() if not p.startswith("--")]
            if not parts:
                continue
            image = substitute(parts[0], env)
            earlier = image.lower() in stages
            if len(parts) >= 3 and parts[1].upper() == "AS":
                stages.add(parts[2].lower())
            if image.lower() == "scratch" or earlier:
                continue
            found.append(image)
    return found


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
#: An HTTP URL to the container itself, as health checks call it.
_SELF_URL = re.compile(
    r"https?://(?:localhost|127\.0\.0\.1|0\.0\.0\.0|\[::1\])(?::(\d{1,5}))?(/[^\s\"'\]\\,;|&)]*)?"
)


def duration(text: str) -> float | None:
    """Docker's durations (``30s``, ``1m30s``, ``100ms``) in seconds; None if not one."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        return None
    return sum(float(n) * _UNITS[u] for n, u in parts)


@attrs.frozen
class Healthcheck:
    """A ``HEALTHCHECK`` instruction of the final stage."""

    #: ``HEALTHCHECK NONE``: the image's check is switched off.
    disabled: bool
    command: str = ""
    #: From an HTTP URL to the container itself in the command (``curl -f
    #: http://localhost:8501/_stcore/health``): the path (with its query) and the port.
    path: str | None = None
    port: int | None = None
    interval: float | None = None
    timeout: float | None = None
    start_period: float | None = None
    retries: int | None = None


@attrs.frozen
class DockerfileFacts:
    """What the Dockerfile says about the stage that is built (the last, or ``target``)."""

    #: Stage names in order (unnamed stages as their index).
    stages: tuple[str, ...]
    #: ``EXPOSE``d ports of the final stage in order, as ``(port, protocol)``.
    exposed: tuple[tuple[int, str], ...] = ()
    healthcheck: Healthcheck | None = None
    user: str | None = None
    #: The ``# syntax=`` directive, if any.
    syntax: str | None = None

    @property
    def first_tcp_port(self) -> int | None:
        return next((port for port, proto in self.exposed if proto == "tcp"), None)


@attrs.define
class _Stage:
    name: str
    exposed: list[tuple[int, str]] = attrs.Factory(list)
    healthcheck: Healthcheck | None = None
    user: str | None = None
    env: dict[str, str] = attrs.Factory(dict)


class UnknownStageError(LookupError):
    def __init__(self, target: str, stages: tuple[str, ...]) -> None:
        super().__init__(target)
        self.target, self.stages = target, stages


def read_facts(
    path: Path, build_args: Mapping[str, str] | None = None, target: str | None = None
) -> DockerfileFacts:
    """The final stage's facts (``target``'s when given; :class:`UnknownStageError` if the
    Dockerfile has no such stage). A stage built ``FROM`` an earlier one inherits its facts."""
    directives, instructions = logical_lines(path.read_text(encoding="utf-8", errors="replace"))
    args = dict(build_args or {})
    globals_ = global_args(instructions, args)
    stages: list[_Stage] = []
    for line in instructions:
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            stages.append(_new_stage(rest, stages, globals_))
        elif not stages:
            continue
        elif word == "ARG":
            name, value = arg(rest, args, globals_)
            stages[-1].env.setdefault(name, value)
        elif word == "ENV":
            for pair in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|'[^']*'|\S+)", rest):
                stages[-1].env[pair[0]] = substitute(unquote(pair[1]), stages[-1].env)
        elif word == "EXPOSE":
            stages[-1].exposed.extend(_exposed(substitute(rest, stages[-1].env)))
        elif word == "HEALTHCHECK":
            stages[-1].healthcheck = _healthcheck(rest)
        elif word == "USER":
            stages[-1].user = substitute(unquote(rest), stages[-1].env).strip() or None
    names = tuple(s.name for s in stages)
    if target is not None:
        chosen = next((s for s in stages if s.name == target.lower()), None)
        if chosen is None:
            raise UnknownStageError(target, names)
    else:
        chosen = stages[-1] if stages else _Stage("0")
    return DockerfileFacts(
        stages=names,
        exposed=tuple(chosen.exposed),
        healthcheck=chosen.healthcheck,
        user=chosen.user,
        syntax=directives.get("syntax"),
    )


def _new_stage(rest: str, stages: list[_Stage], globals_: Mapping[str, str]) -> _Stage:
    parts = [p for p in rest.split() if not p.startswith("--")]
    image = substitute(parts[0], globals_).lower() if parts else ""
    name = parts[2].lower() if len(parts) >= 3 and parts[1].upper() == "AS" else str(len(stages))
    parent = next((s for s in stages if s.name == image), None)
    if parent is None:
        return _Stage(name)
    return _Stage(
        name,
        exposed=list(parent.exposed),
        healthcheck=parent.healthcheck,
        user=parent.user,
        env=dict(parent.env),
    )


def _exposed(rest: str) -> list[tuple[int, str]]:
    found = []
    for item in rest.split():
        number, _, proto = item.partition("/")
        low, _dash, _high = number.partition("-")  # a range exposes its first port first
        if low.isdigit() and 1 <= int(low) <= 65535:
            found.append((int(low), (proto or "tcp").lower()))
    return found


def _healthcheck(rest: str) -> Healthcheck:
    words = rest.strip()
    if words.upper() == "NONE":
        return Healthcheck(disabled=True)
    options: dict[str, str] = {}
    while words.startswith("--"):
        option, _, words = words.partition(" ")
        key, _, value = option[2:].partition("=")
        options[key.lower()] = value
        words = words.strip()
    keyword, _, command = words.partition(" ")
    if keyword.upper() != "CMD":
        command = words
    command = _exec_form(command.strip())
    found = _SELF_URL.search(command)
    port = int(found.group(1)) if found and found.group(1) else None
    retries = options.get("retries", "")
    return Healthcheck(
        disabled=False,
        command=command,
        path=(found.group(2) or "/") if found else None,
        port=port if port is None or 1 <= port <= 65535 else None,
        interval=duration(options.get("interval", "")),
        timeout=duration(options.get("timeout", "")),
        start_period=duration(options.get("start-period", "")),
        retries=int(retries) if retries.isdigit() else None,
    )


def _exec_form(command: str) -> str:
    """``["curl", "-f", "http://..."]`` as one command line (shell form is kept as written)."""
    if not command.startswith("["):
        return command
    try:
        words = json.loads(command)
    except ValueError:
        return command
    if isinstance(words, list) and all(isinstance(w, str) for w in words):
        return shlex.join(words)
    return command
