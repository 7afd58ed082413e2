"""Hooks of the CLI host: plugins add commands (tox's "even subcommands are plugins").

CLI plugins are found through their own entry-point group, ``machete.cli``, so that listing
commands (``machete --help``) imports only these small registration modules, never the
provider plugins of the ``machete`` group (which may import container SDKs). The command
itself is imported only when it runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import pluggy

ENTRY_POINT_GROUP = "machete.cli"
hookspec = pluggy.HookspecMarker("machete")
hookimpl = pluggy.HookimplMarker("machete")


@attrs.frozen
class CliCommand:
    """A command a plugin adds: its name, where the click command is (``module:attribute``),
    and the one-line help ``machete --help`` shows without importing it."""

    name: str
    target: str
    help: str


@hookspec
def machete_cli_commands() -> Sequence[CliCommand]:
    """Offer CLI commands.

    :return: a list of :class:`CliCommand`. A name that a bundled command or another plugin
        already uses is reported (``machete --help`` lists the clash) and skipped, never
        silently replaced. A plugin that fails to load or raises here is reported on stderr
        and skipped; the other commands still work.

    .. versionadded:: 0.2
    """
