"""The single cattrs converter for manifests and specs.

Scalars are checked strictly (a YAML ``true`` is not a port, a mapping is not a string), and
every failure is reported with its JSON path so a user sees all problems at once.
"""

from __future__ import annotations

import functools
from typing import Any

import cattrs
from cattrs.errors import ClassValidationError, IterableValidationError

from machete_core.domain.spec import ToolSpec, VolumeSpec
from machete_core.errors import ManifestError


class FieldProblem(ValueError):
    """A value of the wrong shape; its message is what the user reads after the path."""


def _structure_str(value: Any, _: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise FieldProblem("expected a string")
    return str(value)


def _structure_int(value: Any, _: Any) -> int:
    if isinstance(value, bool):
        raise FieldProblem("expected an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise FieldProblem("expected an integer")


def _structure_float(value: Any, _: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise FieldProblem("expected a number")
    try:
        return float(value)
    except ValueError:
        raise FieldProblem("expected a number") from None


def _structure_bool(value: Any, _: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
        return value.lower() in ("true", "yes")
    raise FieldProblem("expected true or false")


def _structure_any_mapping(value: Any, _: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FieldProblem("expected a mapping")
    return {str(k): v for k, v in value.items()}


def parse_volume(text: str) -> VolumeSpec:
    """``host:container`` with an optional ``:ro``/``:rw``; split at every colon, not the first."""
    parts = text.split(":")
    mode = "rw"
    if len(parts) == 3 and parts[2] in ("ro", "rw"):
        mode = parts.pop()
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise FieldProblem(f"expected 'host:container[:ro|:rw]', got {text!r}")
    if not parts[1].startswith("/"):
        raise FieldProblem(f"container path must be absolute, got {parts[1]!r}")
    return VolumeSpec(host=parts[0], container=parts[1], read_only=mode == "ro")


def _structure_volume(value: Any, _: Any) -> VolumeSpec:
    if isinstance(value, str):
        return parse_volume(value)
    if isinstance(value, dict):
        host, container = value.get("host"), value.get("container")
        if not isinstance(host, str) or not isinstance(container, str):
            raise FieldProblem("expected 'host' and 'container' strings")
        return parse_volume(f"{host}:{container}:{'ro' if value.get('read_only') else 'rw'}")
    raise FieldProblem("expected 'host:container[:ro|:rw]'")


def structure_environment(value: Any, _: Any = None) -> dict[str, str]:
    """A list of ``KEY=VALUE`` strings or a mapping; both forms the original documented."""
    out: dict[str, str] = {}
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = []
        for entry in value:
            if not isinstance(entry, str) or "=" not in entry:
                raise FieldProblem(f"expected 'KEY=VALUE' strings, got {entry!r}")
            key, _sep, val = entry.partition("=")
            items.append((key, val))
    else:
        raise FieldProblem("expected a list of 'KEY=VALUE' strings or a mapping")
    for key, val in items:
        if not isinstance(key, str) or not key or "=" in key or "\0" in key:
            raise FieldProblem(f"invalid environment variable name {key!r}")
        if val is None:
            val = ""
        if isinstance(val, bool):
            val = "true" if val else "false"
        if not isinstance(val, str | int | float):
            raise FieldProblem(f"value of {key} must be a scalar")
        out[key] = str(val)
    return out


@functools.cache
def converter() -> cattrs.Converter:
    """The project's one converter (built once, on first use)."""
    conv = cattrs.Converter(detailed_validation=True, forbid_extra_keys=False)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(float, _structure_float)
    conv.register_structure_hook(bool, _structure_bool)
    # Parametrized generics are not classes, so they are matched by predicate.
    conv.register_structure_hook_func(lambda t: t == dict[str, Any], _structure_any_mapping)
    conv.register_structure_hook_func(lambda t: t == dict[str, str], structure_environment)
    conv.register_structure_hook(VolumeSpec, _structure_volume)
    conv.register_unstructure_hook(VolumeSpec, str)
    return conv


def _describe(exc: BaseException, path: str) -> list[str]:
    if isinstance(exc, ClassValidationError | IterableValidationError):
        return cattrs.transform_error(exc, path=path, format_exception=_format)
    return [f"{path}: {_format(exc, None)}"]


def _format(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, FieldProblem):
        return str(exc)
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, TypeError | AttributeError):
        name = getattr(type_, "__name__", None)
        if name in ("tuple", "list") or "tuple" in str(type_):
            return "expected a list"
        return "expected a mapping"
    return f"invalid value ({exc})"


def structure_or_problems(data: Any, cls: type[Any], path: str = "$") -> tuple[Any, list[str]]:
    """Structure ``data`` as ``cls``; on failure return ``(None, problems)`` with JSON paths."""
    conv = converter()
    try:
        return conv.structure(data, cls), []
    except Exception as exc:
        problems = _describe(exc, path)
        # cattrs appends " @ $.a.b"; we prefer "$.a.b: message".
        return None, [_reorder(p) for p in problems]


def _reorder(problem: str) -> str:
    if " @ " in problem:
        message, _sep, where = problem.rpartition(" @ ")
        return f"{where}: {message}"
    return problem


def raise_if(problems: list[str], source: str) -> None:
    if problems:
        raise ManifestError(problems, source=source)


def spec_to_data(spec: ToolSpec) -> dict[str, Any]:
    """A spec as stored with the tool and its releases."""
    data: dict[str, Any] = converter().unstructure(spec)
    return data


def spec_from_data(data: dict[str, Any]) -> ToolSpec:
    """A stored spec back as the record (stored specs were valid when stored)."""
    spec: ToolSpec = converter().structure(data, ToolSpec)
    return spec
