"""The ``machete`` group: options, the per-invocation context, error handling and lazy loading.

Commands live in ``commands/`` by area and are imported only when run (``--help`` reads their
one-line help from :data:`COMMANDS`; a test keeps it equal to each command's own); plugins add
commands through the hooks in :mod:`machete_cli.hookspecs` (the web host adds ``serve``).
Start-up imports click and little else: a command through a server answers in a blink.
"""

from __future__ import annotations

import importlib
import os
import sys
from functools import cached_property
from typing import Any

import click

from machete_cli.context import Context
from machete_cli.plugin_commands import PluginCommand, plugin_commands

#: Bundled commands: name -> (``module:attribute``, the one-line help ``--help`` shows).
COMMANDS: dict[str, tuple[str, str]] = {
    "install": (
        "machete_cli.commands.tools:install",
        "Install a tool from a Git URL, an archive URL, an archive file (- for stdin)...",
    ),
    "deploy": (
        "machete_cli.commands.tools:deploy",
        "Fetch the latest source and redeploy (the old instance serves until the new...",
    ),
    "rollback": (
        "machete_cli.commands.tools:rollback",
        "Run an earlier release again (default: the one before the live one), without...",
    ),
    "build": (
        "machete_cli.commands.tools:build",
        "Fetch and build a new image without starting it.",
    ),
    "start": (
        "machete_cli.commands.tools:start",
        "Start a stopped tool and wait until it is healthy.",
    ),
    "stop": ("machete_cli.commands.tools:stop", "Stop a tool (its container and data are kept)."),
    "restart": (
        "machete_cli.commands.tools:restart",
        "Restart a tool and wait until it is healthy.",
    ),
    "scale": (
        "machete_cli.commands.tools:scale",
        "Run REPLICAS copies of the tool (a rolling update on runtimes that can, e.g....",
    ),
    "rm": (
        "machete_cli.commands.tools:remove",
        "Remove a tool: its containers and images (data is kept unless --purge).",
    ),
    "config": (
        "machete_cli.commands.settings:config_command",
        "Show or change a tool's configuration (its environment).",
    ),
    "set": (
        "machete_cli.commands.settings:set_settings",
        "Change a tool's settings; they apply from its next deploy (`machete deploy...",
    ),
    "ls": ("machete_cli.commands.reading:list_tools", "List installed tools."),
    "status": (
        "machete_cli.commands.reading:status",
        "Show a tool's status and health (probed now).",
    ),
    "health": (
        "machete_cli.commands.reading:health",
        "Probe a tool's health now, and show the changes the monitor has seen.",
    ),
    "logs": (
        "machete_cli.commands.reading:logs",
        "Print a tool's container logs; with -f, follow the tool across deploys, with...",
    ),
    "releases": ("machete_cli.commands.reading:releases", "List a tool's releases."),
    "operations": (
        "machete_cli.commands.operations:operations",
        "List recent operations (of one tool, or all).",
    ),
    "operation": (
        "machete_cli.commands.operations:operation",
        "Show one operation: its steps and its log (of whichever process runs it).",
    ),
    "cancel": (
        "machete_cli.commands.operations:cancel",
        "Ask an operation to stop, whichever process runs it (its old release keeps...",
    ),
    "events": (
        "machete_cli.commands.operations:events",
        "Lifecycle events of every process on this state (what /api/events streams).",
    ),
    "reconcile": (
        "machete_cli.commands.admin:reconcile",
        "Match running instances to the database; end operations whose process died.",
    ),
    "backup": (
        "machete_cli.commands.admin:backup",
        "Write the whole state to FILE (.tar.gz): database, secret key, tool data,...",
    ),
    "restore": (
        "machete_cli.commands.admin:restore",
        "Restore a backup made by `machete backup` into this installation (stop...",
    ),
    "validate": (
        "machete_cli.commands.admin:validate",
        "Check a tool folder as a deploy would: its manifest, its Dockerfile, and what...",
    ),
    "plugins": (
        "machete_cli.commands.admin:plugins",
        "List plugins: bundled and third-party, their providers, capabilities and...",
    ),
    "settings": (
        "machete_cli.commands.platform:settings_command",
        "Show or change platform settings (every MACHETE_* setting, without the prefix).",
    ),
    "users": (
        "machete_cli.commands.people:users",
        "People and service accounts: add, list, set-role, disable, enable,...",
    ),
    "teams": ("machete_cli.commands.people:teams", "Named groups of users that grants can name."),
    "grant": (
        "machete_cli.commands.people:grant",
        "Give user (or team) NAME a role on one tool (at most maintainer).",
    ),
    "revoke": (
        "machete_cli.commands.people:revoke",
        "Take away the grant of user (or team) NAME on a tool.",
    ),
    "tokens": (
        "machete_cli.commands.people:tokens",
        "API tokens for programs (CI, scripts): create, list, revoke.",
    ),
    "hooks": (
        "machete_cli.commands.hooks:hooks",
        "Deploy on a Git push: enable, disable, rotate, show, poll, deliveries.",
    ),
    "domains": (
        "machete_cli.commands.domains:domains",
        "Custom domains of tools: ls, add, rm.",
    ),
    "ingress": (
        "machete_cli.commands.domains:ingress",
        "What serves the tools: status, ca.",
    ),
    "notify": (
        "machete_cli.commands.notify:notify",
        "Notifications: list, add, change, remove, test, deliveries, types.",
    ),
    "audit": (
        "machete_cli.commands.people:audit",
        "The audit log: who did (or was refused) what, when, from where.",
    ),
    "login": (
        "machete_cli.commands.auth:login",
        "Sign in to the server at URL and make it the current one.",
    ),
    "logout": (
        "machete_cli.commands.auth:logout",
        "Revoke this CLI's token on the server (URL, or the current one) and forget it.",
    ),
    "auth": (
        "machete_cli.commands.auth:auth",
        "Which server the CLI talks to, and as whom: status, switch.",
    ),
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
    def _plugin_commands(self) -> dict[str, PluginCommand]:
        return plugin_commands(COMMANDS)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self._plugin_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            return _load(COMMANDS[cmd_name][0])
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
        rows = [(name, short_help) for name, (_target, short_help) in COMMANDS.items()]
        rows += [(c.name, c.help) for c in self._plugin_commands.values()]
        with formatter.section("Commands"):
            formatter.write_dl(sorted(rows))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt):
            raise
        except BrokenPipeError:
            _quiet_broken_pipe()
        except Exception as exc:
            # Imported only now: a command that succeeds never needs it.
            from machete_core.errors import MacheteError

            if _debug(ctx):
                raise
            if isinstance(exc, MacheteError):
                click.secho(f"error [{exc.code}]: {exc.message}", fg="red", err=True)
                for line in exc.details.get("last_lines", [])[-10:]:
                    click.echo(f"    {line}", err=True)
                ctx.exit(1)
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


def _version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    # Read only when asked: the distribution's metadata costs more than click.
    from machete_core.version import __version__

    click.echo(f"machete, version {__version__}")
    ctx.exit()


@click.group(cls=MacheteGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_version,
    help="Show the version and exit.",
)
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
@click.option(
    "--local",
    is_flag=True,
    help="Work on this machine's state directly, even when a server runs on it "
    "(default: the server of `machete login`, MACHETE_URL, or the one running here).",
)
@click.pass_context
def cli(ctx: click.Context, debug: bool, no_plugins: bool, home: str | None, local: bool) -> None:
    """MACHETE: install, build, run and operate small internal tools."""
    source = ctx.get_parameter_source("home")
    obj = Context(
        debug,
        no_plugins,
        home,
        local=local,
        home_from_option=source == click.core.ParameterSource.COMMANDLINE,
    )
    ctx.obj = obj
    ctx.call_on_close(obj.close)


def main() -> None:
    try:
        cli(prog_name="machete")
    except BrokenPipeError:
        _quiet_broken_pipe()
