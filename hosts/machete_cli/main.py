"""The ``machete`` group: options, the per-invocation context, error handling and lazy loading.

Commands live in ``commands/`` by area and are imported only when run or listed; plugins add
commands through the hooks in :mod:`machete_cli.hookspecs` (the web host adds ``serve``).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable
from functools import cached_property
from importlib import metadata
from typing import Any, cast

import click
import pluggy

from machete_cli import hookspecs
from machete_cli.context import Context
from machete_core.errors import MacheteError
from machete_core.version import __version__

#: Bundled commands: name -> ``module:attribute`` (imported when run or listed).
COMMANDS = {
    "install": "machete_cli.commands.tools:install",
    "deploy": "machete_cli.commands.tools:deploy",
    "rollback": "machete_cli.commands.tools:rollback",
    "build": "machete_cli.commands.tools:build",
    "start": "machete_cli.commands.tools:start",
    "stop": "machete_cli.commands.tools:stop",
    "restart": "machete_cli.commands.tools:restart",
    "scale": "machete_cli.commands.tools:scale",
    "rm": "machete_cli.commands.tools:remove",
    "config": "machete_cli.commands.settings:config_command",
    "set": "machete_cli.commands.settings:set_settings",
    "ls": "machete_cli.commands.reading:list_tools",
    "status": "machete_cli.commands.reading:status",
    "health": "machete_cli.commands.reading:health",
    "logs": "machete_cli.commands.reading:logs",
    "releases": "machete_cli.commands.reading:releases",
    "operations": "machete_cli.commands.operations:operations",
    "operation": "machete_cli.commands.operations:operation",
    "cancel": "machete_cli.commands.operations:cancel",
    "events": "machete_cli.commands.operations:events",
    "reconcile": "machete_cli.commands.admin:reconcile",
    "backup": "machete_cli.commands.admin:backup",
    "restore": "machete_cli.commands.admin:restore",
    "validate": "machete_cli.commands.admin:validate",
    "plugins": "machete_cli.commands.admin:plugins",
    "settings": "machete_cli.commands.platform:settings_command",
    "users": "machete_cli.commands.people:users",
    "teams": "machete_cli.commands.people:teams",
    "grant": "machete_cli.commands.people:grant",
    "revoke": "machete_cli.commands.people:revoke",
    "tokens": "machete_cli.commands.people:tokens",
    "audit": "machete_cli.commands.people:audit",
}


def _load(target: str) -> click.Command:
    module, _sep, attr = target.partition(":")
    command = getattr(importlib.import_module(module), attr)
    if not isinstance(command, click.Command):
        raise TypeError(f"{target} is not a click command")
    return command


class MacheteGroup(click.Group):
    """Loads commands lazily (bundled and from plugins) and turns MacheteError into one clear
    line and a non-zero exit (traceback with --debug)."""

    @cached_property
    def _plugin_commands(self) -> dict[str, hookspecs.CliCommand]:
        pm = pluggy.PluginManager("machete")
        pm.add_hookspecs(hookspecs)
        for ep in metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP):
            try:
                pm.register(ep.load(), name=ep.name)
            except Exception as exc:  # one broken plugin must not take the CLI down
                click.secho(f"warning: CLI plugin {ep.name} failed to load: {exc}", err=True)
        found: dict[str, hookspecs.CliCommand] = {}
        for impl in pm.hook.machete_cli_commands.get_hookimpls():
            try:
                offered = list(cast(Iterable[hookspecs.CliCommand], impl.function() or ()))
            except Exception as exc:
                click.secho(f"warning: CLI plugin {impl.plugin_name} failed: {exc}", err=True)
                continue
            for command in offered:
                if command.name in COMMANDS or command.name in found:
                    click.secho(
                        f"warning: CLI plugin {impl.plugin_name} offers {command.name!r}, "
                        "which is taken; skipped",
                        err=True,
                    )
                    continue
                found[command.name] = command
        return found

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self._plugin_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            return _load(COMMANDS[cmd_name])
        plugin = self._plugin_commands.get(cmd_name)
        if plugin is None:
            return None
        try:
            return _load(plugin.target)
        except Exception as exc:
            raise click.ClickException(
                f"the command {cmd_name!r} could not be loaded from {plugin.target}: {exc}"
            ) from exc

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Plugin commands are listed with their declared help, without importing them.
        rows = [(name, _load(COMMANDS[name]).get_short_help_str(60)) for name in COMMANDS]
        rows += [(c.name, c.help) for c in self._plugin_commands.values()]
        with formatter.section("Commands"):
            formatter.write_dl(sorted(rows))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MacheteError as exc:
            if _debug(ctx):
                raise
            click.secho(f"error [{exc.code}]: {exc.message}", fg="red", err=True)
            for line in exc.details.get("last_lines", [])[-10:]:
                click.echo(f"    {line}", err=True)
            ctx.exit(1)
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt):
            raise
        except BrokenPipeError:
            _quiet_broken_pipe()
        except Exception as exc:
            if _debug(ctx):
                raise
            click.secho(
                f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)",
                fg="red",
                err=True,
            )
            ctx.exit(70)


def _quiet_broken_pipe() -> None:
    """The reader went away (``machete operations | head``): stop without a traceback.

    Python would complain again when it flushes stdout at exit, so stdout is pointed at
    /dev/null first (the recipe of the ``signal`` module's documentation)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    sys.exit(0)


def _debug(ctx: click.Context) -> bool:
    obj = ctx.find_object(Context)
    return bool(obj and obj.debug) or "--debug" in sys.argv


@click.group(cls=MacheteGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="machete")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.option(
    "--no-plugins", is_flag=True, help="Load only the bundled plugins (no third-party ones)."
)
@click.option(
    "--home",
    type=click.Path(file_okay=False),
    envvar="MACHETE_HOME",
    help="State directory (default: $MACHETE_HOME or ~/.local/share/machete).",
)
@click.pass_context
def cli(ctx: click.Context, debug: bool, no_plugins: bool, home: str | None) -> None:
    """MACHETE: install, build, run and operate small internal tools."""
    obj = Context(debug, no_plugins, home)
    ctx.obj = obj
    ctx.call_on_close(obj.close)


def main() -> None:
    try:
        cli(prog_name="machete")
    except BrokenPipeError:
        _quiet_broken_pipe()
