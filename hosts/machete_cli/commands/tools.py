"""Commands that change a tool: install, deploy, rollback, build, start, stop, restart,
scale, rm."""

from __future__ import annotations

import os
from typing import Any

import click

from machete_cli.backend.base import Backend, Data
from machete_cli.context import (
    Context,
    archive_argument,
    credentials,
    json_option,
    override_options,
    overrides_from,
    pass_ctx,
    tool_argument,
    wait_option,
)
from machete_cli.local_sources import folder_to_send
from machete_cli.operations_runner import detach_option, run_op, submit_change
from machete_cli.render import status_text


@click.command()
@click.argument("source")
@click.option("--name", help="Tool name (default: manifest, package.json, then URL).")
@click.option("--ref", help="Branch, tag or commit (default: the remote's default branch).")
@click.option("--username", help="User for a private source (default 'git' with a token).")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password or token from standard input."
)
@click.option(
    "--password-env", metavar="VAR", help="Read the password or token from this variable."
)
@click.option(
    "--dirty",
    is_flag=True,
    help="For a Git working tree: deploy its files as they are, uncommitted changes included.",
)
@override_options
@detach_option
@json_option
@pass_ctx
def install(
    obj: Context,
    source: str,
    name: str | None,
    ref: str | None,
    username: str | None,
    password_stdin: bool,
    password_env: str | None,
    dirty: bool,
    detach: bool,
    as_json: bool,
    **options: Any,
) -> None:
    """Install a tool from a Git URL, an archive URL, an archive file (- for stdin) or a folder.

    Fetch, build, start, and wait until the tool is healthy. What the manifest does not say is
    read from the Dockerfile (EXPOSE, HEALTHCHECK); --port and the other options win over both
    and stay with the tool for every deploy (change them with `machete set`).
    """
    overrides = overrides_from(options)
    # A server elsewhere cannot read this machine's folders: a Git working tree is sent as
    # its committed files then.
    archive = archive_argument(source) or folder_to_send(
        source, dirty, committed_only=obj.target.url is not None
    )
    if archive is not None:
        filename = None if source == "-" else os.path.basename(os.path.abspath(source))

        def submit(backend: Backend) -> Data:
            with archive as stream:
                return backend.upload(stream, name=name, filename=filename, overrides=overrides)

        final = run_op(obj, submit, as_json, detach=detach)
    else:
        creds = credentials(username, password_stdin, password_env)
        final = run_op(
            obj,
            lambda backend: backend.install(source, name, ref, creds, overrides),
            as_json,
            detach=detach,
        )
    if final is not None and not as_json:
        view = obj.backend.tool(final["tool_name"] or "")
        click.secho(f"installed {view['name']}: {view['status']} at {view['url']}", fg="green")


@click.command()
@tool_argument
@click.option("--force", is_flag=True, help="Rebuild and restart even if nothing changed.")
@click.option(
    "--archive",
    metavar="FILE",
    help="Deploy this archive (tar, tar.gz, tar.bz2, tar.xz, zip; - for stdin) instead.",
)
@wait_option
@detach_option
@json_option
@pass_ctx
def deploy(
    obj: Context,
    name: str,
    force: bool,
    archive: str | None,
    wait: bool,
    detach: bool,
    as_json: bool,
) -> None:
    """Fetch the latest source and redeploy (the old instance serves until the new is healthy)."""
    stream = archive_argument(archive) if archive else None
    if archive and stream is None:
        raise click.BadParameter(f"{archive} is not a file", param_hint="--archive")
    if stream is not None:

        def submit(backend: Backend) -> Data:
            with stream as body:
                return backend.upload(body, tool=name)

        final = run_op(obj, submit, as_json, detach=detach)
    else:
        final = run_op(
            obj, submit_change("deploy", name, wait, force=force), as_json, detach=detach
        )
    _release_line(obj, final, name, as_json)


def _release_line(obj: Context, final: Data | None, name: str, as_json: bool) -> None:
    if final is not None and not as_json:
        view = obj.backend.tool(name)
        click.secho(f"{view['name']}: release {view['release']} {view['status']}", fg="green")


@click.command()
@tool_argument
@click.argument("release", type=int, required=False)
@wait_option
@detach_option
@json_option
@pass_ctx
def rollback(
    obj: Context, name: str, release: int | None, wait: bool, detach: bool, as_json: bool
) -> None:
    """Run an earlier release again (default: the one before the live one), without building."""
    final = run_op(
        obj, submit_change("rollback", name, wait, release=release), as_json, detach=detach
    )
    _release_line(obj, final, name, as_json)


@click.command()
@tool_argument
@wait_option
@detach_option
@json_option
@pass_ctx
def build(obj: Context, name: str, wait: bool, detach: bool, as_json: bool) -> None:
    """Fetch and build a new image without starting it."""
    run_op(obj, submit_change("build", name, wait), as_json, detach=detach)


def _verb(kind: str, help_text: str) -> click.Command:
    @click.command(name=kind, help=help_text)
    @tool_argument
    @wait_option
    @detach_option
    @json_option
    @pass_ctx
    def command(obj: Context, name: str, wait: bool, detach: bool, as_json: bool) -> None:
        final = run_op(obj, submit_change(kind, name, wait), as_json, quiet=True, detach=detach)
        if final is not None and not as_json:
            view = obj.backend.tool(name)
            click.echo(f"{view['name']}: {status_text(view['status'])}")

    return command


start = _verb("start", "Start a stopped tool and wait until it is healthy.")
stop = _verb("stop", "Stop a tool (its container and data are kept).")
restart = _verb("restart", "Restart a tool and wait until it is healthy.")


@click.command()
@tool_argument
@click.argument("replicas", type=click.IntRange(1, 100))
@wait_option
@detach_option
@json_option
@pass_ctx
def scale(obj: Context, name: str, replicas: int, wait: bool, detach: bool, as_json: bool) -> None:
    """Run REPLICAS copies of the tool (a rolling update on runtimes that can, e.g. swarm)."""
    final = run_op(
        obj, submit_change("scale", name, wait, replicas=replicas), as_json, detach=detach
    )
    if final is not None and not as_json:
        click.echo(f"{name}: {replicas} replica(s) running")


@click.command(name="rm")
@tool_argument
@click.option("--purge", is_flag=True, help="Also delete the tool's data directory.")
@wait_option
@detach_option
@json_option
@pass_ctx
def remove(obj: Context, name: str, purge: bool, wait: bool, detach: bool, as_json: bool) -> None:
    """Remove a tool: its containers and images (data is kept unless --purge)."""
    final = run_op(
        obj, submit_change("remove", name, wait, purge=purge), as_json, quiet=True, detach=detach
    )
    if final is not None and not as_json:
        click.echo(f"removed {name}" + (" and its data" if purge else " (data kept)"))
