"""Operation params to and from what is stored, through the project's one converter (kept
apart from ``operations.py`` so that naming a kind or an actor costs no cattrs import)."""

from __future__ import annotations

from typing import Any

from machete_core.domain.operations import PARAMS, OperationKind, OperationParams
from machete_core.manifest.converter import converter


def params_to_data(params: OperationParams) -> dict[str, Any]:
    """Params as stored with the operation (None fields left out)."""
    data: dict[str, Any] = converter().unstructure(params)
    return {k: v for k, v in data.items() if v is not None}


def params_from_data(kind: OperationKind | str, data: dict[str, Any]) -> OperationParams:
    """The stored params of an operation of ``kind`` as its record (unknown keys, such as
    those of older MACHETEs, are ignored)."""
    record: OperationParams = converter().structure(data, PARAMS[OperationKind(kind)])
    return record
