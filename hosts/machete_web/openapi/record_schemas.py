"""JSON Schemas (2020-12, as OpenAPI 3.1 uses) of the typed records the API reads and writes.

Records are read from their attrs fields and type hints, so a field added to or removed from a
record changes the document with it. A response record's schema lists every field as required
and no others (the converter writes them all); a request record's requires only the fields
without a default and refuses others, as :func:`machete_web.schemas.parse` does.
"""

from __future__ import annotations

import enum
import types
import typing
from typing import Any

import attrs

JSONSchema = dict[str, Any]
_SCALARS: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
#: Fields a record's rendering adds beside its own (``to_data`` adds ``done`` to operations).
EXTRA_FIELDS: dict[str, dict[str, JSONSchema]] = {
    "OperationRecord": {"done": {"type": "boolean"}},
    # The plugins listing says of each provider whether it can be used here.
    "ProviderInfo": {
        "available": {"type": "boolean"},
        "unavailable_reason": {"type": ["string", "null"]},
    },
}


class RecordSchemas:
    """The component schemas of the records used so far, by name; ``ref`` adds one."""

    def __init__(self) -> None:
        self.components: dict[str, JSONSchema] = {}

    def ref(self, cls: type[Any], *, request: bool = False) -> JSONSchema:
        # Request and response records are distinct classes, so one name says which.
        name = cls.__name__
        if name not in self.components:
            self.components[name] = {}  # a placeholder: records may refer to themselves
            self.components[name] = self._record(cls, request)
        return {"$ref": f"#/components/schemas/{name}"}

    def _record(self, cls: type[Any], request: bool) -> JSONSchema:
        hints = typing.get_type_hints(cls)
        properties: dict[str, JSONSchema] = {}
        required: list[str] = []
        for field in attrs.fields(cls):
            properties[field.name] = self.of(hints[field.name], request=request)
            if not request or field.default is attrs.NOTHING:
                required.append(field.name)
        for name, extra in EXTRA_FIELDS.get(cls.__name__, {}).items():
            if not request:
                properties[name] = extra
                required.append(name)
        doc = (cls.__doc__ or "").strip()
        schema: JSONSchema = {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        }
        if doc and not doc.startswith(cls.__name__ + "("):
            schema["description"] = " ".join(doc.split())
        return schema

    def of(self, hint: Any, *, request: bool = False) -> JSONSchema:
        """The schema of one type hint."""
        if hint is Any:
            return {}
        if hint is type(None):
            return {"type": "null"}
        if hint in _SCALARS:
            return {"type": _SCALARS[hint]}
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            return {"type": "string", "enum": [m.value for m in hint]}
        if isinstance(hint, type) and attrs.has(hint):
            return self.ref(hint, request=request)
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin in (types.UnionType, typing.Union):
            return self._union([self.of(a, request=request) for a in args])
        if origin is typing.Literal:
            return {"enum": list(args)}
        if origin in (list, tuple, frozenset, set):
            item = args[0] if args else Any
            return {"type": "array", "items": self.of(item, request=request)}
        if origin is dict:
            return {"type": "object", "additionalProperties": self.of(args[1], request=request)}
        raise TypeError(f"no JSON Schema for {hint!r}")

    @staticmethod
    def _union(options: list[JSONSchema]) -> JSONSchema:
        types_only = [o for o in options if set(o) == {"type"} and isinstance(o["type"], str)]
        if len(types_only) == len(options):
            return {"type": [o["type"] for o in types_only]}
        return {"anyOf": options}
