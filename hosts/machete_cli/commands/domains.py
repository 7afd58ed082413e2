"""``machete domains``: custom domains routed to tools; ``machete ingress``: what serves the
tools and whether each tool's route is published there."""

from __future__ import annotations

import click

from machete_cli.context import Context, json_option, output, pass_ctx
from machete_cli.render import table, when
from machete_core.domain.routes import TLS_MODES


@click.group()
def domains() -> None:
    """Custom domains of tools: ls, add, rm."""


@domains.command("ls")
@click.argument("tool", required=False)
@json_option
@pass_ctx
def domains_ls(obj: Context, tool: str | None, as_json: bool) -> None:
    """TOOL's custom domains, or every tool's."""
    found = obj.backend.domains(tool)
    output(
        {"domains": found},
        as_json,
        lambda: table(
            ["DOMAIN", "TOOL", "TLS", "ADDED", "BY"],
            [
                [d["name"], d["tool"], d["tls"], when(d["created_at"]), d["created_by"]]
                for d in found
            ],
        ),
    )


@domains.command("add")
@click.argument("tool")
@click.argument("name")
@click.option(
    "--tls",
    type=click.Choice(TLS_MODES),
    default="auto",
    show_default=True,
    help="internal: the ingress's own CA; acme: a public CA (the name must resolve to this "
    "machine); auto: the ingress decides from the name.",
)
@json_option
@pass_ctx
def domains_add(obj: Context, tool: str, name: str, tls: str, as_json: bool) -> None:
    """Route NAME (a host name) to TOOL, whole: https://NAME/ is the tool's root."""
    added = obj.backend.domain_add(tool, name, tls)
    output(
        {"domain": added},
        as_json,
        lambda: click.echo(f"{added['name']} now routes to {added['tool']} (tls {added['tls']})"),
    )


@domains.command("rm")
@click.argument("tool")
@click.argument("name")
@json_option
@pass_ctx
def domains_rm(obj: Context, tool: str, name: str, as_json: bool) -> None:
    """Stop routing NAME to TOOL."""
    obj.backend.domain_remove(tool, name)
    output({"removed": name}, as_json, lambda: click.echo(f"{name} no longer routes to {tool}"))


@click.group()
def ingress() -> None:
    """What serves the tools: status, ca."""


@ingress.command("status")
@json_option
@pass_ctx
def ingress_status(obj: Context, as_json: bool) -> None:
    """The ingress, whether it serves, and each tool's route (published, stale, missing)."""
    found = obj.backend.ingress()

    def text() -> None:
        problem = found["problem"]
        click.echo(f"ingress: {found['name']} ({'serving' if not problem else problem})")
        listener = found.get("listener")
        if listener:
            ended = listener["last_exit"]
            click.echo(
                f"listener: pid {listener['pid']} on port {listener['port']}, "
                f"{'running' if listener['running'] else 'not running'}, "
                f"started again {listener['restarts']} time(s)"
                + (f", last ended with status {ended}" if ended is not None else "")
            )
        table(
            ["TOOL", "RELEASE", "ROUTE", "HOSTS", "PATH", "UPSTREAMS"],
            [
                [
                    r["tool"],
                    r["release"] if r["release"] is not None else "-",
                    r["state"],
                    ",".join(r["hosts"]) or "-",
                    r["path"] or "-",
                    ",".join(r["upstreams"]) or "-",
                ]
                for r in found["routes"]
            ],
        )

    output({"ingress": found}, as_json, text)


@ingress.command("ca")
@pass_ctx
def ingress_ca(obj: Context) -> None:
    """Print the ingress's internal CA root certificate (PEM), for people to trust."""
    pem = obj.backend.ingress_ca()
    if not pem:
        raise click.ClickException(
            "this ingress has no internal CA (yet): it is made with the first internal name"
        )
    click.echo(pem.rstrip())
