"""Find and load a tool's manifest into a normalized :class:`ToolSpec`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import yaml

from machete_core.domain.quantities import parse_cpu, parse_memory
from machete_core.domain.spec import (
    CATEGORIES,
    DEFAULT_PORT,
    FilesystemPermissions,
    PermissionsSpec,
    ResourcesSpec,
    SetupSpec,
    ToolSpec,
    UiRoute,
    UiSpec,
)
from machete_core.errors import ManifestError
from machete_core.manifest.converter import raise_if, structure_or_problems
from machete_core.manifest.documents import MacheteYmlDoc, ToolJsonDoc, unknown_keys

MAX_MANIFEST_BYTES = 256 * 1024
YAML_NAMES = ("machete.yml", "machete.yaml")
JSON_NAME = "tool.json"
README_NAMES = ("README.md", "README.txt", "README.rst", "readme.md")


@attrs.frozen
class LoadedManifest:
    spec: ToolSpec
    warnings: tuple[str, ...] = ()
    #: ``name`` from package.json, a lower-precedence candidate for the tool name.
    package_name: str | None = None


def load_manifest(root: Path) -> LoadedManifest:
    """Load the manifest of the tool tree at ``root``.

    ``machete.yml`` wins; ``tool.json`` is the fallback; with neither, defaults apply (a bare
    Dockerfile repository is a valid tool). ``package.json`` and the README fill in metadata
    that the manifest leaves out.
    """
    root = Path(root)
    package = _read_package_json(root)
    for name in YAML_NAMES:
        path = root / name
        if path.is_file():
            loaded = load_manifest_text(_read_limited(path, name), fmt="machete.yml")
            break
    else:
        path = root / JSON_NAME
        if path.is_file():
            loaded = load_manifest_text(_read_limited(path, JSON_NAME), fmt="tool.json")
        else:
            loaded = LoadedManifest(spec=ToolSpec())
    spec = loaded.spec
    fill: dict[str, Any] = {}
    for key in ("description", "version", "author", "license"):
        if getattr(spec, key) is None and isinstance(package.get(key), str):
            fill[key] = package[key]
    if spec.description is None and "description" not in fill:
        readme = _readme_description(root)
        if readme:
            fill["description"] = readme
    if fill:
        spec = attrs.evolve(spec, **fill)
    pkg_name = package.get("name") if isinstance(package.get("name"), str) else None
    return LoadedManifest(spec=spec, warnings=loaded.warnings, package_name=pkg_name)


def load_manifest_text(text: str, *, fmt: str) -> LoadedManifest:
    """Parse ``machete.yml`` or ``tool.json`` text; only ManifestError escapes."""
    data = _parse(text, fmt)
    if fmt == "tool.json":
        return _from_tool_json(data)
    return _from_machete_yml(data)


def _read_limited(path: Path, name: str) -> str:
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise ManifestError([f"$: file larger than {MAX_MANIFEST_BYTES} bytes"], source=name)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ManifestError(["$: not valid UTF-8 text"], source=name) from None


def _parse(text: str, fmt: str) -> dict[str, Any]:
    try:
        data = json.loads(text) if fmt == "tool.json" else yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1}, column {where.column + 1})" if where else ""
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0] if str(exc) else "syntax"
        raise ManifestError([f"$: cannot parse {fmt}{at}: {reason}"], source=fmt) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ManifestError([f"$: expected a mapping at the top level of {fmt}"], source=fmt)
    return data


def _from_machete_yml(data: dict[str, Any]) -> LoadedManifest:
    doc, problems = structure_or_problems(data, MacheteYmlDoc)
    raise_if(problems, "machete.yml")
    assert isinstance(doc, MacheteYmlDoc)
    warnings = [_unknown(p) for p in unknown_keys(data, MacheteYmlDoc)]
    section = doc.machete
    problems = []
    fields: dict[str, Any] = {
        "name": doc.name,
        "version": doc.version,
        "description": doc.description,
        "author": doc.author,
        "license": doc.license,
        "repository": doc.repository,
        "config": dict(doc.config or {}),
        "manifest_format": "machete.yml",
    }
    if section is not None:
        fields.update(
            platform_version=section.version,
            category=_category(section.category, "$.machete.category", warnings),
            port=_port(section.port, "$.machete.port", problems),
            health_check=health_path(section.health_check, "$.machete.health_check", problems),
            health_timeout=_positive(section.health_timeout, "$.machete.health_timeout", problems),
            build_timeout=_positive(section.build_timeout, "$.machete.build_timeout", problems),
            drain_seconds=_drain(section.drain, problems),
            strip_prefix=section.strip_prefix if section.strip_prefix is not None else True,
            proxy_timeout=_proxy_timeout(section.proxy_timeout, problems),
            environment=dict(section.environment or {}),
            volumes=tuple(section.volumes or ()),
            dependencies=tuple(section.dependencies or ()),
            build_args=dict(section.build_args or {}),
            connects_to=tuple(_tool_names(section.connects_to, problems)),
            builder=section.builder,
            runtime=section.runtime,
            dockerfile=relative_path(section.dockerfile, "$.machete.dockerfile", problems)
            or "Dockerfile",
            replicas=_replicas(section.replicas, problems),
            path=relative_path(section.path, "$.machete.path", problems) or ".",
            target=section.target or None,
            declared=tuple(
                key
                for key, value in (
                    ("port", section.port),
                    ("health_check", section.health_check),
                    ("dockerfile", section.dockerfile),
                )
                if value is not None
            ),
        )
        if section.dependencies:
            warnings.append("$.machete.dependencies: declared services are not provisioned")
    if doc.ui is not None:
        fields["ui"] = UiSpec(
            icon=doc.ui.icon or UiSpec().icon,
            color=doc.ui.color or UiSpec().color,
            routes=tuple(UiRoute(r.path, r.title, r.description) for r in doc.ui.routes)
            if doc.ui.routes
            else UiSpec().routes,
        )
    if doc.resources is not None:
        for key, parse in (("memory", parse_memory), ("cpu", parse_cpu)):
            value = getattr(doc.resources, key)
            if value is not None:
                try:
                    parse(value)
                except ValueError as exc:
                    problems.append(f"$.resources.{key}: {exc}")
        fields["resources"] = ResourcesSpec(memory=doc.resources.memory, cpu=doc.resources.cpu)
    if doc.permissions is not None:
        fs = doc.permissions.filesystem
        fields["permissions"] = PermissionsSpec(
            docker=bool(doc.permissions.docker),
            filesystem=FilesystemPermissions(read_only=bool(fs and fs.read_only)),
        )
    if doc.setup is not None:
        fields["setup"] = SetupSpec(
            script=doc.setup.script, config_files=tuple(doc.setup.config_files or ())
        )
        if doc.setup.script:
            warnings.append(
                "$.setup.script: setup scripts are not run; build steps belong in the Dockerfile"
            )
    raise_if(problems, "machete.yml")
    return LoadedManifest(spec=ToolSpec(**fields), warnings=tuple(warnings))


def _from_tool_json(data: dict[str, Any]) -> LoadedManifest:
    doc, problems = structure_or_problems(data, ToolJsonDoc)
    raise_if(problems, "tool.json")
    assert isinstance(doc, ToolJsonDoc)
    warnings = [_unknown(p) for p in unknown_keys(data, ToolJsonDoc)]
    problems = []
    docker = doc.docker
    port = DEFAULT_PORT
    declared: tuple[str, ...] = ()
    if docker is not None and docker.ports:
        declared = ("port",)
        first = docker.ports[0]
        container_port = first.rsplit(":", 1)[-1].split("/", 1)[0]
        port = _port(container_port, "$.docker.ports[0]", problems)
    if docker is not None and docker.build not in (None, ".", "./"):
        warnings.append("$.docker.build: the build context is always the repository root")
    raise_if(problems, "tool.json")
    spec = ToolSpec(
        name=doc.id or doc.name,
        version=doc.version,
        description=doc.description,
        author=doc.author,
        category=_category(doc.category, "$.category", warnings),
        port=port,
        environment=dict(docker.environment or {}) if docker else {},
        volumes=tuple(docker.volumes or ()) if docker else (),
        dependencies=tuple(doc.dependencies or ()),
        manifest_format="tool.json",
        declared=declared,
    )
    return LoadedManifest(spec=spec, warnings=tuple(warnings))


def _category(value: str | None, path: str, warnings: list[str]) -> str:
    if value is None:
        return "other"
    if value not in CATEGORIES:
        warnings.append(f"{path}: unknown category {value!r}, using 'other'")
        return "other"
    return value


def _port(value: Any, path: str, problems: list[str]) -> int:
    if value is None:
        return DEFAULT_PORT
    try:
        port = int(value)
    except (TypeError, ValueError):
        problems.append(f"{path}: expected an integer")
        return DEFAULT_PORT
    if not 1 <= port <= 65535:
        problems.append(f"{path}: expected a port between 1 and 65535, got {port}")
    return port


def _unknown(where: str) -> str:
    path, _sep, hint = where.partition(" ")
    return f"{path}: unknown key, ignored" + (f" {hint}" if hint else "")


def health_path(value: str | None, path: str, problems: list[str]) -> str | None:
    """A health path as written (``none``, or nothing, is the connect check: None)."""
    if value is None or value == "" or value.lower() == "none":
        return None
    if not value.startswith("/") or any(c in value for c in " \r\n\t\0"):
        problems.append(f"{path}: expected an absolute URL path like '/health'")
    return value


def _positive(value: float | None, path: str, problems: list[str]) -> float | None:
    if value is not None and not (0 < value <= 86400):
        problems.append(f"{path}: expected a number of seconds between 0 and 86400")
    return value


def _tool_names(values: list[str] | None, problems: list[str]) -> list[str]:
    from machete_core.domain.naming import is_valid_name

    for i, value in enumerate(values or ()):
        if not is_valid_name(value):
            problems.append(f"$.machete.connects_to[{i}]: {value!r} is not a tool name")
    return list(values or ())


#: More replicas than this is a typo more often than a plan.
MAX_REPLICAS = 100


def _replicas(value: int | None, problems: list[str]) -> int | None:
    if value is not None and (isinstance(value, bool) or not 1 <= value <= MAX_REPLICAS):
        problems.append(f"$.machete.replicas: expected a whole number from 1 to {MAX_REPLICAS}")
    return value


def _drain(value: float | None, problems: list[str]) -> float | None:
    if value is not None and not (0 <= value <= 600):
        problems.append("$.machete.drain: expected a number of seconds between 0 and 600")
    return value


def _proxy_timeout(value: float | None, problems: list[str]) -> float | None:
    if value is not None and (isinstance(value, bool) or not 1 <= value <= 86_400):
        problems.append("$.machete.proxy_timeout: expected a number of seconds from 1 to 86400")
    return value


def relative_path(value: str | None, path: str, problems: list[str]) -> str | None:
    if value is None:
        return None
    parts = value.replace("\\", "/").split("/")
    if value.startswith("/") or ".." in parts or "\0" in value:
        problems.append(f"{path}: expected a path inside the repository")
    return value


def _read_package_json(root: Path) -> dict[str, Any]:
    path = root / "package.json"
    if not path.is_file() or path.stat().st_size > MAX_MANIFEST_BYTES:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _readme_description(root: Path) -> str | None:
    for name in README_NAMES:
        path = root / name
        if path.is_file() and path.stat().st_size < 1024 * 1024:
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                text = line.strip()
                if len(text) > 20 and not text.startswith(("#", "=", "-", "!", "[", "<")):
                    return text[:200]
    return None
