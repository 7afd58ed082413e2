"""The web host's CLI command, registered through the CLI's own hooks (``machete.cli`` entry
points), so the CLI never imports the web host unless ``machete serve`` runs."""

from __future__ import annotations

from machete_cli.hookspecs import CliCommand, hookimpl


@hookimpl
def machete_cli_commands() -> list[CliCommand]:
    return [
        CliCommand("serve", "machete_web.serve_command:serve", "Run the HTTP API and dashboard.")
    ]
