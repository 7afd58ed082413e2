"""``machete settings``: the platform's settings, kept in ``<home>/machete.toml``."""

from __future__ import annotations

import os

import click

from machete_cli.context import Context, json_option, output, pass_ctx
from machete_cli.render import table

#: Never printed: shown as ``***``.
SECRET_SETTINGS = frozenset({"registry_password"})


def _shown(name: str, value: object) -> str:
    if name in SECRET_SETTINGS and value:
        return "***"
    if isinstance(value, frozenset | tuple):
        return ",".join(sorted(str(v) for v in value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@click.command(name="settings")
@click.argument("action", type=click.Choice(["list", "get", "set", "unset"]), default="list")
@click.argument("name", required=False)
@click.argument("value", required=False)
@json_option
@pass_ctx
def settings_command(
    obj: Context, action: str, name: str | None, value: str | None, as_json: bool
) -> None:
    """Show or change platform settings (every MACHETE_* setting, without the prefix).

    \b
    machete settings                      every setting, its value and where it comes from
    machete settings get NAME
    machete settings set NAME VALUE       kept in <home>/machete.toml for every later command
    machete settings unset NAME           and for `machete serve` (restart it to apply)
    A MACHETE_* variable in the environment still wins over the file.
    """
    from machete_core.settings import ENV_PREFIX, Settings
    from machete_core.settings_file import (
        read_settings_file,
        settings_path,
        write_settings_file,
    )

    obj.host_only("settings")
    home = obj.settings().home
    if action in ("get", "set", "unset") and not name:
        raise click.UsageError(f"settings {action} needs a setting's NAME")
    name = (name or "").lower().removeprefix(ENV_PREFIX.lower())
    if action in ("set", "unset"):
        stored = read_settings_file(home)
        if action == "set":
            if value is None:
                raise click.UsageError("settings set needs a VALUE")
            Settings.check(name, value)  # refused before anything is written
            stored[name] = value
        else:
            Settings.check_name(name)
            stored.pop(name, None)
        path = write_settings_file(home, stored)
        if (ENV_PREFIX + name.upper()) in os.environ:
            click.secho(
                f"note: {ENV_PREFIX}{name.upper()} is set in this environment and wins over {path}",
                fg="yellow",
                err=True,
            )
        click.echo(f"{name}: {'saved in' if action == 'set' else 'removed from'} {path}")
        return
    settings = obj.settings()
    stored = read_settings_file(home)
    rows = []
    for field in Settings.names():
        if action == "get" and field != name:
            continue
        source = (
            "environment"
            if (ENV_PREFIX + field.upper()) in os.environ
            else "file"
            if field in stored
            else "default"
        )
        rows.append(
            {"name": field, "value": _shown(field, getattr(settings, field)), "from": source}
        )
    if action == "get" and not rows:
        Settings.check_name(name)

    def text() -> None:
        if action == "get":
            click.echo(rows[0]["value"])
            return
        click.echo(f"# {settings_path(home)}")
        table(["name", "value", "from"], [(r["name"], r["value"], r["from"]) for r in rows])

    output(rows, as_json, text)
