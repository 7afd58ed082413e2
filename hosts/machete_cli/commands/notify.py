"""``machete notify``: notification channels (the instance's, or one tool's), tests, and
what was sent."""

from __future__ import annotations

import sys

import click

from machete_cli.context import Context, json_option, output, pass_ctx
from machete_cli.render import table, when
from machete_core.notify.kinds import CHANNEL_KINDS, NOTICES


@click.group()
def notify() -> None:
    """Notifications: list, add, change, remove, test, deliveries, types."""


def _channels(rows: list[dict[str, object]]) -> None:
    table(
        ["NAME", "KIND", "TARGET", "TYPES", "TOOLS", "ON"],
        [
            [
                c["name"],
                c["kind"],
                c["target"],
                ",".join(c["events"]) or "all",  # type: ignore[arg-type]
                c["tool"] or (",".join(c["tools"]) or "all"),  # type: ignore[arg-type]
                "yes" if c["enabled"] else "no",
            ]
            for c in rows
        ],
    )


@notify.command("list")
@click.option("--tool", help="The channels subscribed for this tool (its maintainers').")
@json_option
@pass_ctx
def notify_list(obj: Context, tool: str | None, as_json: bool) -> None:
    """The instance's channels (admins), or one tool's."""
    found = obj.backend.notify_channels(tool)
    output({"channels": found}, as_json, lambda: _channels(found))


@notify.command("add")
@click.argument("name")
@click.argument("kind", type=click.Choice(sorted(CHANNEL_KINDS)))
@click.argument("target")
@click.option(
    "--event",
    "events",
    multiple=True,
    type=click.Choice(sorted(NOTICES)),
    help="Only these notification types (repeat; default: all).",
)
@click.option(
    "--about",
    "tools",
    multiple=True,
    metavar="TOOL",
    help="Only about these tools (repeat; default: all).",
)
@click.option(
    "--tool", help="Subscribe it for this tool (its maintainers may): it hears of that tool only."
)
@json_option
@pass_ctx
def notify_add(
    obj: Context,
    name: str,
    kind: str,
    target: str,
    events: tuple[str, ...],
    tools: tuple[str, ...],
    tool: str | None,
    as_json: bool,
) -> None:
    """A new channel: KIND is webhook, slack, discord or email; TARGET its URL or address
    (`-` reads it from stdin: a Slack or Discord URL is a credential, keep it out of shell
    history). A webhook channel's signing secret is printed once."""
    if target == "-":
        target = sys.stdin.readline().strip()
    answer = obj.backend.notify_add(
        name, kind, target, events=list(events), tools=list(tools), tool=tool
    )

    def text() -> None:
        _channels([answer["channel"]])
        if answer.get("secret"):
            click.echo(f"signing secret: {answer['secret']}")
            click.echo("(shown once: give it to the receiver to verify the signatures)")

    output(answer, as_json, text)


@notify.command("change")
@click.argument("name")
@click.option("--enable/--disable", "enabled", default=None, help="Turn it on or off.")
@click.option(
    "--event",
    "events",
    multiple=True,
    type=click.Choice(sorted(NOTICES)),
    help="Take only these types from now on (repeat).",
)
@click.option("--all-events", is_flag=True, help="Take every type again.")
@json_option
@pass_ctx
def notify_change(
    obj: Context,
    name: str,
    enabled: bool | None,
    events: tuple[str, ...],
    all_events: bool,
    as_json: bool,
) -> None:
    """Turn a channel on or off, or change the types it takes."""
    chosen = [] if all_events else (list(events) if events else None)
    answer = obj.backend.notify_change(name, enabled=enabled, events=chosen)
    output({"channel": answer}, as_json, lambda: _channels([answer]))


@notify.command("remove")
@click.argument("name")
@pass_ctx
def notify_remove(obj: Context, name: str) -> None:
    """Remove a channel (what it has not sent yet goes with it)."""
    obj.backend.notify_remove(name)
    click.echo(f"removed {name}")


@notify.command("test")
@click.argument("name")
@json_option
@pass_ctx
def notify_test(obj: Context, name: str, as_json: bool) -> None:
    """Send the channel a test notification (see `machete notify deliveries NAME`)."""
    delivery = obj.backend.notify_test(name)
    output(
        {"delivery": delivery},
        as_json,
        lambda: click.echo(f"queued test notification {delivery} to {name}"),
    )


@notify.command("deliveries")
@click.argument("name")
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True)
@json_option
@pass_ctx
def notify_deliveries(obj: Context, name: str, limit: int, as_json: bool) -> None:
    """What the channel was sent: type, status, attempts, the last error."""
    found = obj.backend.notify_deliveries(name, limit)
    output(
        {"deliveries": found},
        as_json,
        lambda: table(
            ["ID", "CREATED", "TYPE", "TOOL", "STATUS", "TRIES", "NEXT", "LAST ERROR"],
            [
                [
                    d["id"],
                    when(d["created_at"]),
                    d["type"],
                    d["tool"],
                    d["status"],
                    d["attempts"],
                    when(d["next_attempt_at"]),
                    d["last_error"],
                ]
                for d in found
            ],
        ),
    )


@notify.command("types")
def notify_types() -> None:
    """The notification types and the channel kinds."""
    table(["TYPE", "WHEN"], sorted(NOTICES.items()))
    click.echo()
    table(["KIND", "TARGET"], sorted(CHANNEL_KINDS.items()))
