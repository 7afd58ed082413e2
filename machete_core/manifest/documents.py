"""The file formats as written by tool authors, field for field (see docs/manifest.md).

These records are lenient on purpose: every documented key of the original is accepted, even
where MACHETE does not act on it yet. ``known_keys`` lets the loader warn about the rest.
"""

from __future__ import annotations

import difflib
from typing import Any

import attrs

from machete_core.domain.spec import VolumeSpec


@attrs.frozen
class RouteDoc:
    path: str
    title: str
    description: str | None = None


@attrs.frozen
class UiDoc:
    icon: str | None = None
    color: str | None = None
    routes: list[RouteDoc] | None = None


@attrs.frozen
class ResourcesDoc:
    memory: str | None = None
    cpu: str | None = None
    disk_quota: str | None = None
    volumes: dict[str, Any] | None = None


@attrs.frozen
class FilesystemDoc:
    read_only: bool | None = None


@attrs.frozen
class PermissionsDoc:
    docker: bool | None = None
    filesystem: FilesystemDoc | None = None


@attrs.frozen
class SetupDoc:
    script: str | None = None
    config_files: list[str] | None = None


@attrs.frozen
class MacheteSectionDoc:
    version: str | None = None
    category: str | None = None
    port: int | None = None
    health_check: str | None = None
    health_timeout: float | None = None
    build_timeout: float | None = None
    drain: float | None = None
    strip_prefix: bool | None = None
    proxy_timeout: float | None = None
    environment: dict[str, str] | None = None
    volumes: list[VolumeSpec] | None = None
    dependencies: list[str] | None = None
    build_args: dict[str, str] | None = None
    connects_to: list[str] | None = None
    builder: str | None = None
    runtime: str | None = None
    dockerfile: str | None = None
    replicas: int | None = None
    #: The tool's folder in the repository (a monorepo).
    path: str | None = None
    #: The Dockerfile stage to build.
    target: str | None = None


@attrs.frozen
class MacheteYmlDoc:
    """``machete.yml``."""

    name: str | None = None
    version: str | None = None
    description: str | None = None
    author: str | None = None
    license: str | None = None
    repository: str | None = None
    machete: MacheteSectionDoc | None = None
    config: dict[str, Any] | None = None
    ui: UiDoc | None = None
    resources: ResourcesDoc | None = None
    permissions: PermissionsDoc | None = None
    setup: SetupDoc | None = None


@attrs.frozen
class ToolJsonDockerDoc:
    build: str | None = None
    ports: list[str] | None = None
    environment: dict[str, str] | None = None
    volumes: list[VolumeSpec] | None = None


@attrs.frozen
class ToolJsonDoc:
    """The legacy ``tool.json``, read when ``machete.yml`` is absent."""

    id: str | None = None
    name: str | None = None
    description: str | None = None
    version: str | None = None
    author: str | None = None
    category: str | None = None
    docker: ToolJsonDockerDoc | None = None
    routes: Any = None
    dependencies: list[str] | None = None
    configuration: Any = None


# Keys not to descend into when looking for unknown keys: free-form by design.
FREE_FORM = {"config", "routes", "configuration", "volumes", "environment", "build_args"}


def unknown_keys(data: Any, cls: type[Any], path: str = "$") -> list[str]:
    """Paths of keys in ``data`` that ``cls`` does not declare (recursively, for warnings)."""
    if not isinstance(data, dict) or not attrs.has(cls):
        return []
    found: list[str] = []
    fields = {f.name: f for f in attrs.fields(cls)}
    for key, value in data.items():
        where = f"{path}.{key}"
        field = fields.get(str(key))
        if field is None:
            close = difflib.get_close_matches(str(key), list(fields), n=1, cutoff=0.75)
            found.append(where + (f" (did you mean '{close[0]}'?)" if close else ""))
            continue
        if str(key) in FREE_FORM:
            continue
        inner = _attrs_class_of(field.type)
        if inner is not None:
            found.extend(unknown_keys(value, inner, where))
    return found


def _attrs_class_of(type_: Any) -> type[Any] | None:
    for candidate in getattr(type_, "__args__", (type_,)):
        if isinstance(candidate, type) and attrs.has(candidate):
            return candidate
    return None
