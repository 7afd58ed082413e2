"""Kubernetes-style resource quantities: ``512Mi``, ``1G``, ``500m`` CPUs."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_MEMORY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|K|M|G|T|k)?$")
_UNITS = {
    None: 1,
    "k": 1000,
    "K": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "T": 1000**4,
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
    "Ti": 1024**4,
}
MIN_MEMORY = 6 * 1024**2  # the engine refuses less


def parse_memory(text: str) -> int:
    """Bytes, from ``512Mi``, ``1Gi``, ``500M`` or a plain number of bytes."""
    match = _MEMORY.match(str(text).strip())
    if not match:
        raise ValueError(f"expected a memory quantity like 512Mi or 1Gi, got {text!r}")
    value = int(Decimal(match.group(1)) * _UNITS[match.group(2)])
    if value < MIN_MEMORY:
        raise ValueError(f"memory must be at least 6Mi, got {text!r}")
    return value


def parse_cpu(text: str) -> int:
    """Nano-CPUs, from ``500m`` (millicores), ``0.5`` or ``2``."""
    raw = str(text).strip()
    try:
        cores = Decimal(raw[:-1]) / 1000 if raw.endswith("m") else Decimal(raw)
    except InvalidOperation:
        raise ValueError(f"expected a CPU quantity like 500m or 1.5, got {text!r}") from None
    if not cores.is_finite() or cores <= 0 or cores > 1024:
        raise ValueError(f"expected a CPU quantity like 500m or 1.5, got {text!r}")
    nano = int(cores * 1_000_000_000)
    if nano < 1_000_000:
        raise ValueError(f"CPU must be at least 1m, got {text!r}")
    return nano
