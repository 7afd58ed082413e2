"""What a tool runs with when its manifest is silent: read from its Dockerfile.

The order, lowest first: MACHETE's defaults, what the Dockerfile says (``EXPOSE``,
``HEALTHCHECK``), what the manifest declares, and what an operator set for the tool
(``--port``, ``machete set``). Every decision is said in a note (``port 5000 (from EXPOSE)``),
shown by ``machete validate`` and in the operation's log.
"""

from __future__ import annotations

import re
from pathlib import Path

import attrs

from machete_core.domain.spec import DEFAULT_PORT, ToolOverrides, ToolSpec
from machete_core.errors import InvalidInputError
from machete_core.manifest.dockerfile import (
    DockerfileFacts,
    UnknownStageError,
    check_build_args,
    read_facts,
)
from machete_core.manifest.loader import (
    JSON_NAME,
    YAML_NAMES,
    LoadedManifest,
    health_path,
    load_manifest,
    relative_path,
)

_STAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_ARG = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
#: Docker's defaults for a HEALTHCHECK's interval and retries.
DOCKER_INTERVAL_S = 30.0
DOCKER_RETRIES = 3


@attrs.frozen
class Resolved:
    spec: ToolSpec
    facts: DockerfileFacts
    notes: tuple[str, ...]


def tool_folder(src: Path, sub: str) -> Path:
    """``sub`` inside the tree at ``src`` (never outside it, even through links)."""
    folder = (src / sub).resolve()
    if not folder.is_relative_to(src.resolve()) or not folder.is_dir():
        raise InvalidInputError(
            f"no folder {sub!r} in the repository (set by --subdir or machete.path)",
            details={"missing": sub},
        )
    return folder


def locate_tool(src: Path, overrides: ToolOverrides) -> tuple[Path, LoadedManifest]:
    """The tool's folder in the tree (``--subdir``, else the root manifest's ``machete.path``)
    and the manifest that applies: the folder's own if it has one, else the root's."""
    loaded = load_manifest(src)
    root = tool_folder(src, overrides.subdir or loaded.spec.path)
    if root != src.resolve() and any((root / name).is_file() for name in (*YAML_NAMES, JSON_NAME)):
        loaded = load_manifest(root)
    return root, loaded


def find_dockerfile(root: Path, name: str) -> str:
    """``name`` in the tool's folder; a missing ``Dockerfile`` falls back to ``dockerfile`` as
    Docker's CLI does. Refuses a missing file, saying where it looked and what would help."""
    if (root / name).is_file():
        return name
    if name == "Dockerfile" and (root / "dockerfile").is_file():
        return "dockerfile"
    looked = "Dockerfile or dockerfile" if name == "Dockerfile" else name
    raise InvalidInputError(
        f"no {looked} in the tool's folder: a tool needs a Dockerfile (pass --dockerfile PATH "
        "or set machete.dockerfile when it has another name, --subdir DIR or machete.path "
        "when the tool is in a folder of the repository)",
        details={"missing": looked},
    )


def resolve(spec: ToolSpec, root: Path, overrides: ToolOverrides) -> Resolved:
    """The spec a deploy uses: ``spec`` (from the manifest in ``root``) completed from the
    Dockerfile and with the tool's overrides applied."""
    notes: list[str] = []
    dockerfile = find_dockerfile(root, overrides.dockerfile or spec.dockerfile)
    if dockerfile != spec.dockerfile and not overrides.dockerfile:
        notes.append(f"dockerfile {dockerfile} (found as Docker's CLI finds it)")
    target = overrides.target or spec.target
    build_args = {**spec.build_args, **overrides.build_args}
    try:
        facts = read_facts(root / dockerfile, build_args, target)
    except UnknownStageError as exc:
        raise InvalidInputError(
            f"the Dockerfile has no stage {exc.target!r} (its stages: "
            f"{', '.join(exc.stages) or 'none'}): pass --target with one of them or set "
            "machete.target",
            details={"stages": list(exc.stages)},
        ) from None
    port, why = _port(spec, facts, overrides)
    notes.append(f"port {port} ({why})")
    health, health_why = _health(spec, facts, overrides)
    hc = facts.healthcheck
    fields: dict[str, object] = {}
    if health_why == "from HEALTHCHECK" and hc is not None:
        notes.append(f"health check GET {health} (from HEALTHCHECK)")
        fields["health_interval"] = spec.health_interval or hc.interval
        fields["health_retries"] = spec.health_retries or hc.retries
        fields["health_probe_timeout"] = spec.health_probe_timeout or hc.timeout
        if spec.health_timeout is None:
            fields["health_timeout"] = (hc.start_period or 0.0) + (
                hc.interval or DOCKER_INTERVAL_S
            ) * (hc.retries or DOCKER_RETRIES)
    elif health is None:
        notes.append(f"health check: the port answers HTTP with anything but a 5xx ({health_why})")
    else:
        notes.append(f"health check GET {health} ({health_why})")
    if hc is not None and not hc.disabled:
        notes.append(
            "the image's own HEALTHCHECK is switched off in the container: MACHETE checks "
            "health itself, so `docker ps` and `machete status` agree"
        )
    resolved = attrs.evolve(
        spec,
        port=port,
        health_check=health,
        dockerfile=dockerfile,
        target=target,
        build_args=build_args,
        **fields,  # type: ignore[arg-type]
    )
    return Resolved(resolved, facts, tuple(notes))


def _port(spec: ToolSpec, facts: DockerfileFacts, overrides: ToolOverrides) -> tuple[int, str]:
    if overrides.port is not None:
        return overrides.port, "set for the tool"
    if "port" in spec.declared:
        return spec.port, "from the manifest"
    if facts.first_tcp_port is not None:
        return facts.first_tcp_port, "from EXPOSE"
    if facts.healthcheck is not None and facts.healthcheck.port is not None:
        return facts.healthcheck.port, "from HEALTHCHECK"
    return DEFAULT_PORT, "the default: nothing declares one"


def _health(
    spec: ToolSpec, facts: DockerfileFacts, overrides: ToolOverrides
) -> tuple[str | None, str]:
    if overrides.health_path is not None:
        path = None if overrides.health_path.lower() == "none" else overrides.health_path
        return path, "set for the tool"
    if "health_check" in spec.declared:
        return spec.health_check, "from the manifest"
    hc = facts.healthcheck
    if hc is not None and not hc.disabled and hc.path is not None:
        return hc.path, "from HEALTHCHECK"
    return None, "no health path declared"


def check_overrides(overrides: ToolOverrides) -> ToolOverrides:
    """Refuse what no deploy could use, before anything is stored (the same rules as the
    manifest's fields)."""
    problems: list[str] = []
    if overrides.port is not None and not 1 <= overrides.port <= 65535:
        problems.append(f"port: expected a port between 1 and 65535, got {overrides.port}")
    if overrides.health_path is not None:
        health_path(overrides.health_path, "health path", problems)
    for name in ("subdir", "dockerfile"):
        relative_path(getattr(overrides, name), name, problems)
    if overrides.target is not None and not _STAGE.match(overrides.target):
        problems.append(f"target: {overrides.target!r} is not a stage name")
    for key, value in overrides.build_args.items():
        if not _ARG.match(key) or "\0" in value:
            problems.append(f"build argument {key!r}: expected NAME=VALUE")
    if problems:
        raise InvalidInputError("; ".join(problems), details={"problems": problems})
    check_build_args(overrides.build_args)
    return overrides
