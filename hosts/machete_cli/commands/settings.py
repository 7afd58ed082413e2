"""Commands that change what a tool runs with: its configuration and its settings."""

from __future__ import annotations

import sys
from typing import Any

import click

from machete_cli.context import (
    Context,
    json_option,
    output,
    override_options,
    overrides_from,
    pass_ctx,
    tool_argument,
)
from machete_cli.operations_runner import run_op


@click.command(name="config")
@click.argument("args", nargs=-1, required=True)
@click.option("--secret", is_flag=True, help="With set: store the values as secrets.")
@json_option
@pass_ctx
def config_command(obj: Context, args: tuple[str, ...], secret: bool, as_json: bool) -> None:
    """Show or change a tool's configuration (its environment).

    \b
    machete config NAME                         show it (secrets as ***)
    machete config set NAME KEY=VALUE... [--secret]
    machete config unset NAME KEY...
    KEY=- reads that value from standard input. A change of a deployed tool is a new release
    through the health gate.
    """
    action, rest = (args[0], args[1:]) if args[0] in ("set", "unset") else ("show", args)
    if not rest:
        raise click.UsageError("name the tool")
    name, items = rest[0], rest[1:]
    backend = obj.backend
    if action == "show":
        if items:
            raise click.UsageError("to change values use: machete config set NAME KEY=VALUE")
        entries = backend.config(name)

        def text() -> None:
            for entry in entries:
                click.echo(f"{entry['key']}={entry['value']}")

        output(entries, as_json, text)
        return
    if not items:
        raise click.UsageError(f"config {action} needs KEY=VALUE pairs or keys")
    values: dict[str, str] = {}
    unset: tuple[str, ...] = ()
    if action == "set":
        for item in items:
            key, sep, value = item.partition("=")
            if not sep:
                raise click.UsageError(f"{item!r} is not KEY=VALUE")
            values[key] = sys.stdin.readline().rstrip("\r\n") if value == "-" else value
    else:
        unset = tuple(items)
    op = backend.change_config(name, values, secret, unset)
    if op is None:
        click.echo(f"{name}: configuration saved; it applies at the next deploy")
        return
    if run_op(obj, lambda _backend: op, as_json, quiet=False) is not None and not as_json:
        click.echo(f"{name}: configuration applied in release {backend.tool(name)['release']}")


@click.command(name="set")
@tool_argument
@click.option("--builder", help="Builder for this tool (docker, buildx, auto; '' for the default).")
@click.option("--enabled/--disabled", default=None, help="Whether the tool may run.")
@click.option("--auto-start/--no-auto-start", default=None, help="Start it with the platform.")
@override_options
@click.option(
    "--clear",
    multiple=True,
    metavar="SETTING",
    help="Forget a setting (port, health_path, subdir, dockerfile, target, build_args).",
)
@json_option
@pass_ctx
def set_settings(
    obj: Context,
    name: str,
    builder: str | None,
    enabled: bool | None,
    auto_start: bool | None,
    clear: tuple[str, ...],
    as_json: bool,
    **options: Any,
) -> None:
    """Change a tool's settings; they apply from its next deploy (`machete deploy NAME`)."""
    view = obj.backend.set_tool(
        name,
        overrides_from(options),
        tuple(c.replace("-", "_") for c in clear),
        enabled,
        auto_start,
        builder,
    )

    def text() -> None:
        state = "enabled" if view["enabled"] else "disabled"
        auto = "on" if view["auto_start"] else "off"
        click.echo(
            f"{view['name']}: builder {view['builder'] or 'default'}, {state}, auto-start {auto}"
        )

    output(view, as_json, text)
