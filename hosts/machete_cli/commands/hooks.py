"""``machete hooks``: a tool's Git push webhook and polling, and its deliveries."""

from __future__ import annotations

import click

from machete_cli.context import Context, json_option, output, pass_ctx
from machete_cli.render import table, when


@click.group()
def hooks() -> None:
    """Deploy on a Git push: enable, disable, rotate, show, poll, deliveries."""


def _show(answer: dict[str, object]) -> None:
    hook = answer.get("hook")
    if not isinstance(hook, dict):
        click.echo("no webhook or polling set (machete hooks enable TOOL)")
        return
    click.echo(f"webhook:  {'on' if hook['enabled'] else 'off'}")
    if answer.get("url"):
        click.echo(f"URL:      {answer['url']}")
    else:
        click.echo(f"URL path: {hook['path']}  (POST, under the server's public URL)")
    if hook.get("previous_until"):
        click.echo(f"previous secret good until {when(hook['previous_until'])}")
    poll = hook.get("poll_seconds")
    click.echo(f"polling:  every {poll} s" if poll else "polling:  off")
    if answer.get("secret"):
        click.echo(f"secret:   {answer['secret']}")
        click.echo("(shown once: paste it into the Git host's webhook settings now)")


def _change(obj: Context, tool: str, change: str, as_json: bool, value: int | None = None) -> None:
    answer = obj.backend.hook(tool, change, value)
    output(answer, as_json, lambda: _show(answer))


@hooks.command("enable")
@click.argument("tool")
@json_option
@pass_ctx
def hooks_enable(obj: Context, tool: str, as_json: bool) -> None:
    """Turn the webhook on (the first time, its secret is printed once)."""
    _change(obj, tool, "enable", as_json)


@hooks.command("disable")
@click.argument("tool")
@json_option
@pass_ctx
def hooks_disable(obj: Context, tool: str, as_json: bool) -> None:
    """Turn the webhook off (deliveries answer 404; enable brings the same URL back)."""
    _change(obj, tool, "disable", as_json)


@hooks.command("rotate")
@click.argument("tool")
@click.option(
    "--grace",
    type=click.IntRange(0, 7 * 86400),
    default=3600,
    show_default=True,
    help="Seconds the previous secret is still accepted.",
)
@json_option
@pass_ctx
def hooks_rotate(obj: Context, tool: str, grace: int, as_json: bool) -> None:
    """A new secret (printed once); the old one works for --grace seconds more."""
    _change(obj, tool, "rotate", as_json, grace)


@hooks.command("show")
@click.argument("tool")
@json_option
@pass_ctx
def hooks_show(obj: Context, tool: str, as_json: bool) -> None:
    """The webhook's URL path and state, and the polling interval (never the secret)."""
    _change(obj, tool, "show", as_json)


@hooks.command("poll")
@click.argument("tool")
@click.argument("seconds")
@json_option
@pass_ctx
def hooks_poll(obj: Context, tool: str, seconds: str, as_json: bool) -> None:
    """Poll the source every SECONDS (60-86400) and deploy new revisions; `off` stops."""
    if seconds == "off":
        value = None
    elif seconds.isdigit():
        value = int(seconds)
    else:
        raise click.BadParameter("a number of seconds, or off", param_hint="SECONDS")
    _change(obj, tool, "poll", as_json, value)


@hooks.command("deliveries")
@click.argument("tool")
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True)
@json_option
@pass_ctx
def hooks_deliveries(obj: Context, tool: str, limit: int, as_json: bool) -> None:
    """Recent deliveries: when, from which host, event, ref, outcome, operation."""
    found = obj.backend.hook_deliveries(tool, limit)
    output(
        {"deliveries": found},
        as_json,
        lambda: table(
            ["AT", "PROVIDER", "EVENT", "REF", "OUTCOME", "OPERATION", "DETAIL"],
            [
                [
                    when(d["at"]),
                    d["provider"],
                    d["event"],
                    d["ref"],
                    d["outcome"],
                    (d["operation_id"] or "")[:12],
                    d["detail"],
                ]
                for d in found
            ],
        ),
    )
