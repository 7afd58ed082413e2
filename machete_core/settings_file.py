"""``machete.toml`` in the state directory: platform settings that stay, so a setting made
once (an allowed source scheme, a longer health timeout) holds for the next deploy from any
shell, and the server and the CLI agree. The environment still wins over the file.

The file holds ``name = "value"`` lines, the value spelt as its ``MACHETE_*`` variable would
be (``allowed_schemes = "https,file"``); numbers, booleans and lists are accepted too.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from machete_core.errors import InvalidInputError
from machete_core.private_files import write_private

FILE_NAME = "machete.toml"


def settings_path(home: Path) -> Path:
    return home / FILE_NAME


def read_settings_file(home: Path) -> dict[str, str]:
    """The file's settings as the strings their variables would hold; {} without a file."""
    path = settings_path(home)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(
            f"{path} is not valid TOML ({exc}); fix or remove it (machete settings list)"
        ) from None
    values = data.get("settings", data)
    found: dict[str, str] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            continue
        found[str(key)] = _as_text(value)
    return found


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def write_settings_file(home: Path, values: dict[str, str]) -> Path:
    """Replace the file with ``values`` (atomically, readable by its owner only: it may hold
    a registry password)."""
    lines = [
        "# MACHETE settings (machete settings set NAME VALUE); MACHETE_* variables win.",
        *(f"{key} = {json.dumps(value)}" for key, value in sorted(values.items())),
    ]
    return write_private(settings_path(home), "\n".join(lines) + "\n")
