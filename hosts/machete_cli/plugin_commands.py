"""The commands plugins add (``machete.cli`` entry points), found once and then remembered.

Finding them means reading every installed distribution's metadata and loading pluggy, which
costs more than the rest of ``machete --help``. The answer is kept in
``$XDG_CACHE_HOME/machete/cli-commands.json`` under a key made of the import path's folders
and their modification times: installing or removing a distribution changes its folder, so
the key, and the plugins are looked for again. An answer with a warning (a broken or clashing
plugin) is never kept, so the warning is shown every time until it is fixed."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple, cast

import click


class PluginCommand(NamedTuple):
    name: str
    target: str
    help: str
    plugin: str


def _cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "machete" / "cli-commands.json"


def _key() -> str:
    parts = [sys.executable]
    # Not sys.path[0]: the script's folder (or the current one), which differs between
    # `machete` and `python -m machete_cli` and holds no distributions.
    for entry in sys.path[1:]:
        try:
            parts.append(f"{entry}:{os.stat(entry or '.').st_mtime_ns}")
        except OSError:
            parts.append(f"{entry}:-")
    return "\n".join(parts)


def plugin_commands(taken: Iterable[str]) -> dict[str, PluginCommand]:
    key = _key()
    path = _cache_path()
    try:
        cached = json.loads(path.read_text())
        if cached.get("key") == key:
            return {c[0]: PluginCommand(*c) for c in cached["commands"]}
    except (OSError, ValueError, KeyError, TypeError):
        pass
    found, warned = _discover(set(taken))
    if not warned:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}")
            tmp.write_text(json.dumps({"key": key, "commands": list(found.values())}))
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only home: look again next time
    return found


def _discover(taken: set[str]) -> tuple[dict[str, PluginCommand], bool]:
    from importlib import metadata

    import pluggy

    from machete_cli import hookspecs

    warned = False

    def warn(message: str) -> None:
        nonlocal warned
        warned = True
        click.secho(f"warning: {message}", err=True)

    pm = pluggy.PluginManager("machete")
    pm.add_hookspecs(hookspecs)
    for ep in metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP):
        try:
            pm.register(ep.load(), name=ep.name)
        except Exception as exc:  # one broken plugin must not take the CLI down
            warn(f"CLI plugin {ep.name} failed to load: {exc}")
    found: dict[str, PluginCommand] = {}
    for impl in pm.hook.machete_cli_commands.get_hookimpls():
        try:
            offered = list(cast(Iterable[hookspecs.CliCommand], impl.function() or ()))
        except Exception as exc:
            warn(f"CLI plugin {impl.plugin_name} failed: {exc}")
            continue
        for command in offered:
            if command.name in taken or command.name in found:
                warn(
                    f"CLI plugin {impl.plugin_name} offers {command.name!r}, which is taken; "
                    "skipped"
                )
                continue
            found[command.name] = PluginCommand(
                command.name, command.target, command.help, impl.plugin_name
            )
    return found, warned
