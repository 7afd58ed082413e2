"""Running an operation from the CLI: submit, show its steps as they happen, render the end."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from machete_cli.context import Context, output
from machete_cli.render import ProgressPrinter
from machete_core.domain.operations import LOCAL_CLI
from machete_core.errors import MacheteError

if TYPE_CHECKING:
    from machete_core.machete import Machete
    from machete_core.state.views import OperationRecord

Submit = Callable[["Machete"], "OperationRecord"]


def _waiting(op: Any) -> None:
    click.echo(f"waiting: {op.tool_name} is busy with operation {op.id} ({op.kind})", err=True)


def submit_change(kind: str, name: str, wait: bool, **params: Any) -> Submit:
    return lambda m: m.submit(
        kind,
        name,
        actor=LOCAL_CLI,
        wait=float("inf") if wait else None,
        on_wait=_waiting,
        **params,
    )


def run_op(obj: Context, submit: Submit, as_json: bool, quiet: bool = False) -> OperationRecord:
    """Run the submitted operation here; its progress goes to the terminal (stderr with
    ``--json``), its record to stdout with ``--json``."""
    m = obj.machete
    op = submit(m)
    printer = None if quiet else ProgressPrinter(err=as_json)
    try:
        final = m.run(
            op.id,
            on_line=printer.line if printer else None,
            on_step=printer.step if printer else None,
        )
    except MacheteError:
        output(m.operation(op.id), as_json)
        raise
    output(final, as_json)
    return final
