"""Running an operation from the CLI: submit it, show its steps as they happen (run here in
local mode, followed over the API's WebSocket in client mode), render the end.

Ctrl-C while a server runs the operation asks whether to cancel it or only stop watching
(without a terminal to ask, it stops watching: the operation goes on). ``--detach`` returns
at once with the operation's id."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from machete_cli.backend.base import Backend, Data
from machete_cli.context import Context, output
from machete_cli.render import ProgressPrinter

Submit = Callable[[Backend], Data]

detach_option = click.option(
    "--detach",
    is_flag=True,
    help="Return at once with the operation's id (a server runs it; follow it with "
    "`machete operation ID -f`).",
)


def submit_change(kind: str, name: str, wait: bool, **params: Any) -> Submit:
    return lambda backend: backend.submit(kind, name, wait, params)


def run_op(
    obj: Context, submit: Submit, as_json: bool, quiet: bool = False, detach: bool = False
) -> Data | None:
    """Submit and see the operation through; its progress goes to the terminal (stderr with
    ``--json``), its record to stdout with ``--json``. None when detached or left to run."""
    backend = obj.backend
    if detach and not backend.can_detach:
        from machete_cli.client.errors import NeedsServerError

        raise NeedsServerError(
            "--detach needs a server to run the operation: start `machete serve` on this "
            "machine, or sign in to one (`machete login URL`)"
        )
    op = submit(backend)
    if detach:
        if as_json:
            output(op, as_json)
        else:
            click.echo(
                f"operation {op['id']} started: follow it with machete operation {op['id']} -f"
            )
        return None
    printer = None if quiet else ProgressPrinter(err=as_json)
    try:
        final: Data | None = backend.run(op, printer)
    except KeyboardInterrupt:
        if not backend.can_detach:
            raise
        final = _interrupted(backend, op)
    if final is None:
        return None
    output(final, as_json)
    failed(final)
    return final


def _interrupted(backend: Backend, op: Data) -> Data | None:
    """Ctrl-C: cancel the operation, or leave it running and stop watching."""
    op_id = op["id"]
    click.echo("", err=True)
    cancel = False
    if sys.stdin.isatty():
        try:
            cancel = click.confirm(
                f"cancel operation {op_id} (its old release keeps serving)? No leaves it running",
                default=False,
                err=True,
            )
        except (click.Abort, KeyboardInterrupt):
            cancel = False
    if not cancel:
        click.echo(
            f"stopped watching; operation {op_id} goes on: machete operation {op_id} -f "
            f"follows it, machete cancel {op_id} stops it",
            err=True,
        )
        return None
    if backend.cancel(op_id):
        click.echo(f"cancelling {op_id}", err=True)
    return backend.run(op, None)


def failed(final: Data) -> None:
    """An operation that ended in an error raises it (one line, its code)."""
    if final.get("error_code"):
        from machete_cli.client.errors import RemoteError

        raise RemoteError(final["error_code"], final.get("error_message") or "", 400)
