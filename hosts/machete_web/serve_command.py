"""``machete serve``: the click command that runs this host."""

from __future__ import annotations

from typing import Any

import click

from machete_cli.context import Context, pass_ctx
from machete_web.server import serve as run_server


@click.command()
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1; 0.0.0.0 for all).")
@click.option("--port", type=int, default=None, help="Port (default 8080).")
@pass_ctx
def serve(obj: Context, host: str | None, port: int | None) -> None:
    """Run the HTTP API and dashboard (every request signs in; see docs/security.md)."""
    overrides: dict[str, Any] = {}
    if host:
        overrides["host"] = host
    if port:
        overrides["port"] = port
    run_server(obj.settings(**overrides))
