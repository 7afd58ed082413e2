"""Commands that show tools: ls, status, health, logs, releases."""

from __future__ import annotations

import click

from machete_cli.context import Context, json_option, output, pass_ctx, tool_argument
from machete_cli.render import status_text, table, when


@click.command(name="ls")
@json_option
@pass_ctx
def list_tools(obj: Context, as_json: bool) -> None:
    """List installed tools."""
    tools = obj.backend.tools()

    def text() -> None:
        if not tools:
            click.echo("no tools installed (try: machete install https://host/team/tool.git)")
            return
        table(
            ["name", "status", "release", "url", "source"],
            [
                (t["name"], status_text(t["status"]), t["release"], t["url"], t["source_url"])
                for t in tools
            ],
        )

    output(tools, as_json, text)


@click.command()
@tool_argument
@json_option
@pass_ctx
def status(obj: Context, name: str, as_json: bool) -> None:
    """Show a tool's status and health (probed now)."""
    view = obj.backend.tool(name)

    def text() -> None:
        source = view["source_url"] + (f" ({view['source_ref']})" if view["source_ref"] else "")
        replicas = f" ({view['replicas']} replicas)" if view["replicas"] > 1 else ""
        rows = [
            ("name", view["name"]),
            ("status", status_text(view["status"])),
            ("health", status_text(view["health"])),
            ("reason", view["reason"]),
            ("release", view["release"]),
            ("commit", view["commit"]),
            ("image", view["image"]),
            ("url", view["url"]),
            ("source", source),
            ("port", view["port"]),
            ("health check", view["health_check"]),
            ("runtime", view["runtime"] + replicas),
            ("restarts", view["restart_count"] or None),
            ("set", ", ".join(f"{k}={v}" for k, v in sorted(view["overrides"].items())) or None),
        ]
        for key, value in rows:
            if value not in (None, ""):
                click.echo(f"{key + ':':14}{value}")

    output(view, as_json, text)


@click.command()
@tool_argument
@json_option
@pass_ctx
def health(obj: Context, name: str, as_json: bool) -> None:
    """Probe a tool's health now, and show the changes the monitor has seen."""
    found = obj.backend.health(name)

    def text() -> None:
        click.echo(
            f"{name}: {status_text('healthy' if found['healthy'] else 'unhealthy')}"
            + (f" ({found['error']})" if found["error"] else "")
        )
        for event in found["history"]:
            click.echo(
                f"  {when(event['at'])}  {status_text(event['health'])}  "
                f"{event['detail'] or ''}".rstrip()
            )

    output(found, as_json, text)


@click.command()
@tool_argument
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@click.option("--tail", type=int, default=100, show_default=True, help="Lines from the end.")
@pass_ctx
def logs(obj: Context, name: str, follow: bool, tail: int) -> None:
    """Print a tool's container logs; with -f, follow the tool across deploys, with its
    lifecycle events (release live, failed, health changes) in between."""
    try:
        if follow:
            for line in obj.backend.follow_logs(name, tail):
                click.echo(line)
        else:
            for line in obj.backend.logs(name, tail):
                click.echo(line)
    except KeyboardInterrupt:
        pass


@click.command()
@tool_argument
@json_option
@pass_ctx
def releases(obj: Context, name: str, as_json: bool) -> None:
    """List a tool's releases."""
    rels = obj.backend.releases(name)

    def text() -> None:
        table(
            ["release", "status", "commit", "image", "created", "trigger"],
            [
                (
                    r["number"],
                    status_text(r["status"]),
                    (r["commit"] or "")[:12],
                    r["image_tag"],
                    when(r["created_at"]),
                    r["trigger"],
                )
                for r in rels
            ],
        )

    output(rels, as_json, text)
