"""Commands for the installation: reconcile, backup, restore, plugins, validate."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from machete_cli.context import (
    Context,
    json_option,
    output,
    override_options,
    overrides_from,
    pass_ctx,
)
from machete_cli.render import emit_json, table


@click.command()
@click.option(
    "--forget-unknown",
    is_flag=True,
    help="Remove this installation's containers and images although the database has never "
    "known them (after a lost database; otherwise refused with state_missing).",
)
@json_option
@pass_ctx
def reconcile(obj: Context, forget_unknown: bool, as_json: bool) -> None:
    """Match running instances to the database; end operations whose process died."""
    import attrs

    obj.host_only("reconcile")
    report = obj.machete.reconcile(forget_unknown=forget_unknown)

    def text() -> None:
        if report.skipped:
            click.echo("another process is reconciling right now; nothing done")
            return
        for key, items in attrs.asdict(report).items():
            if items and isinstance(items, list):
                click.echo(f"{key.replace('_', ' ')}: {', '.join(items)}")
            elif items and isinstance(items, dict):
                shown = "; ".join(f"{name} ({why})" for name, why in items.items())
                click.echo(f"{key.replace('_', ' ')}: {shown}")
        if not any(attrs.astuple(report)):
            click.echo("nothing to do: everything matches")

    output(attrs.asdict(report), as_json, text)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--no-logs", is_flag=True, help="Leave the operation logs out.")
@json_option
@pass_ctx
def backup(obj: Context, file: Path, no_logs: bool, as_json: bool) -> None:
    """Write the whole state to FILE (.tar.gz): database, secret key, tool data, uploads, logs.

    FILE holds the secret key: keep it as safe as the key itself.
    """
    import attrs

    from machete_core.backup import create_backup

    obj.host_only("backup")
    report = create_backup(obj.settings(), file, include_logs=not no_logs)

    def text() -> None:
        rows = ", ".join(f"{n} {t}" for t, n in report.tables.items() if n)
        click.echo(
            f"backed up to {report.path} ({report.bytes} bytes): {rows}; {report.files} files"
        )

    output(attrs.asdict(report), as_json, text)


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace the state of an installation that has tools.")
@json_option
@pass_ctx
def restore(obj: Context, file: Path, force: bool, as_json: bool) -> None:
    """Restore a backup made by `machete backup` into this installation (stop `serve` first)."""
    import attrs

    from machete_core.backup import restore_backup

    obj.host_only("restore")
    report = restore_backup(obj.settings(), file, force=force)

    def text() -> None:
        click.echo(
            f"restored {report.tables.get('tools', 0)} tool(s) and {report.files} files "
            f"from {report.path}. Next: `machete reconcile` (or start `machete serve`) adopts "
            "the containers that still run; on a new engine, `machete deploy NAME --force` "
            "rebuilds each tool from its source."
        )

    output(attrs.asdict(report), as_json, text)


@click.command()
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@override_options
@json_option
def validate(path: str, as_json: bool, **options: Any) -> None:
    """Check a tool folder as a deploy would: its manifest, its Dockerfile, and what MACHETE
    reads from the Dockerfile where the manifest is silent; print the spec it would run."""
    from machete_core.domain.naming import choose_name
    from machete_core.domain.spec import ToolOverrides
    from machete_core.manifest.converter import spec_to_data
    from machete_core.manifest.inference import check_overrides, locate_tool, resolve

    overrides = check_overrides(ToolOverrides(**overrides_from(options)))
    root, loaded = locate_tool(Path(path), overrides)
    resolved = resolve(loaded.spec, root, overrides)
    name = choose_name(
        manifest=loaded.spec.name,
        package_json=loaded.package_name,
        url=os.path.basename(os.path.abspath(path)),
    )
    data = {
        "name": name,
        "spec": spec_to_data(resolved.spec),
        "warnings": list(loaded.warnings),
        "inferred": list(resolved.notes),
    }
    if as_json:
        emit_json(data)
        return
    import yaml

    for warning in loaded.warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    click.echo(f"# valid; the tool will be named {name!r}")
    for note in resolved.notes:
        click.echo(f"# {note}")
    click.echo(yaml.safe_dump(data["spec"], sort_keys=False, allow_unicode=True).rstrip())


@click.command()
@json_option
@pass_ctx
def plugins(obj: Context, as_json: bool) -> None:
    """List plugins: bundled and third-party, their providers, capabilities and status (of
    the server, in client mode)."""
    report = obj.backend.plugins()

    def provides(plugin: dict[str, object]) -> str:
        parts = []
        for p in plugin["providers"]:  # type: ignore[attr-defined]
            text = f"{p['kind']}:{p['name']}"
            if p["capabilities"]:
                text += f" [{', '.join(p['capabilities'])}]"
            if not p["available"]:
                text += f" (unavailable: {p['unavailable_reason']})"
            parts.append(text)
        return ", ".join(parts)

    def text() -> None:
        rows = [
            (
                plugin["name"],
                plugin["distribution"],
                plugin["version"],
                "yes" if plugin["builtin"] else "",
                plugin["status"] + (f": {plugin['error']}" if plugin["error"] else ""),
                provides(plugin),
            )
            for plugin in report
        ]
        table(["name", "distribution", "version", "bundled", "status", "provides"], rows)

    output(report, as_json, text)
