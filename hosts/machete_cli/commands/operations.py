"""Commands about operations and events: operations, operation, cancel, events."""

from __future__ import annotations

import json

import click

from machete_cli.context import Context, json_option, output, pass_ctx
from machete_cli.render import actor_text, status_text, table, when


@click.command()
@click.argument("name", required=False)
@json_option
@pass_ctx
def operations(obj: Context, name: str | None, as_json: bool) -> None:
    """List recent operations (of one tool, or all)."""
    ops = obj.backend.operations(name)

    def text() -> None:
        table(
            ["id", "kind", "tool", "actor", "status", "created", "error"],
            [
                (
                    o["id"],
                    o["kind"],
                    o["tool_name"],
                    actor_text(o["actor"]),
                    status_text(o["status"]),
                    when(o["created_at"]),
                    o["error_code"],
                )
                for o in ops
            ],
        )

    output(ops, as_json, text)


@click.command()
@click.argument("op_id")
@click.option("-f", "--follow", is_flag=True, help="Follow its log live until it ends.")
@json_option
@pass_ctx
def operation(obj: Context, op_id: str, follow: bool, as_json: bool) -> None:
    """Show one operation: its steps and its log (of whichever process runs it)."""
    backend = obj.backend
    op = backend.operation(op_id)
    if as_json:
        output(op, as_json)
        return
    click.echo(
        f"{op['kind']} of {op['tool_name']} by {actor_text(op['actor'])}: "
        f"{status_text(op['status'])} ({when(op['created_at'])})"
    )
    for step in op["steps"]:
        click.echo(f"  {step['name']:18}{step['status']:9}{step['detail'] or ''}")
    try:
        if follow:
            for line in backend.follow_operation_log(op_id):
                click.echo(line)
            op = backend.operation(op_id)
            click.echo(f"{op['kind']} {status_text(op['status'])}")
        else:
            click.echo(backend.operation_log(op_id), nl=False)
    except KeyboardInterrupt:
        pass
    if op["error_code"]:
        click.secho(f"error [{op['error_code']}]: {op['error_message']}", fg="red", err=True)


@click.command()
@click.argument("op_id")
@pass_ctx
def cancel(obj: Context, op_id: str) -> None:
    """Ask an operation to stop, whichever process runs it (its old release keeps serving)."""
    if obj.backend.cancel(op_id):
        click.echo(f"cancelling {op_id}")
    else:
        click.echo(f"{op_id} has already ended")


@click.command()
@click.option("--tool", "tool", help="Only this tool's events.")
@click.option("-n", "--last", type=int, default=20, show_default=True, help="Earlier events.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new events.")
@json_option
@pass_ctx
def events(obj: Context, tool: str | None, last: int, follow: bool, as_json: bool) -> None:
    """Lifecycle events of every process on this state (what /api/events streams)."""
    try:
        for event in obj.backend.events(last, tool, follow):
            if as_json:
                click.echo(json.dumps(event))
                continue
            detail = " ".join(f"{k}={v}" for k, v in event["data"].items())
            click.echo(
                f"{when(event['at'])}  {event['kind']:20} {event['tool'] or '-':16} "
                f"{actor_text(event['actor']):22} {detail}".rstrip()
            )
    except KeyboardInterrupt:
        pass
