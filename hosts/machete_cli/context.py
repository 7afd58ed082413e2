"""What every command shares: the per-invocation :class:`Context` (options, and the Machete
object built on first use), the common options, and :func:`output` (text or ``--json``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import click

from machete_cli.render import emit_json

if TYPE_CHECKING:
    from machete_core.domain.spec import ToolOverrides
    from machete_core.machete import Machete
    from machete_core.secrets import Credentials
    from machete_core.settings import Settings


class Context:
    """Holds the options; the Machete object is built on first use and owned by this host."""

    def __init__(self, debug: bool, no_plugins: bool, home: str | None) -> None:
        self.debug = debug
        self.no_plugins = no_plugins
        self.home = home
        self._machete: Machete | None = None

    def settings(self, **overrides: Any) -> Settings:
        from machete_core.settings import Settings

        if self.home:
            overrides["home"] = self.home
        settings = Settings.from_env(**overrides)
        if self.no_plugins:
            import attrs

            settings = attrs.evolve(settings, disable_plugins=settings.disable_plugins | {"*"})
        return settings

    @property
    def machete(self) -> Machete:
        if self._machete is None:
            from machete_core.access.principal import local
            from machete_core.domain.operations import LOCAL_CLI
            from machete_core.machete import create_machete
            from machete_plugins import BUILTIN_PLUGINS

            # The host's own CLI: the local actor (it holds the state and every key).
            self._machete = create_machete(self.settings(), builtins=BUILTIN_PLUGINS).acting_as(
                local(LOCAL_CLI)
            )
        return self._machete

    def close(self) -> None:
        if self._machete is not None:
            self._machete.close()


pass_ctx = click.make_pass_decorator(Context)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
wait_option = click.option(
    "--wait",
    is_flag=True,
    help="If the tool is busy with another operation, wait for it to end instead of failing.",
)


def output(data: Any, as_json: bool, text: Callable[[], None] | None = None) -> None:
    """Render a command's result: ``data`` as JSON (records through the core's converter),
    or the text ``text`` prints."""
    if as_json:
        from machete_core.views import to_data

        emit_json(to_data(data))
    elif text is not None:
        text()


def credentials(
    username: str | None, password_stdin: bool, password_env: str | None
) -> Credentials | None:
    """Secrets come from stdin or a variable, never from the command line (``ps`` shows it)."""
    from machete_core.secrets import Credentials

    if password_stdin and password_env:
        raise click.UsageError("use one of --password-stdin and --password-env")
    if password_stdin:
        secret = sys.stdin.readline().rstrip("\r\n")
    elif password_env:
        secret = os.environ.get(password_env, "")
        if not secret:
            raise click.UsageError(f"the variable {password_env} is empty or not set")
    elif username:
        raise click.UsageError("--username needs --password-stdin or --password-env")
    else:
        return None
    return Credentials(username=username or "git", password=secret)


def archive_argument(source: str) -> BinaryIO | None:
    """An archive to upload: ``-`` (stdin) or an existing file; None for URLs and folders."""
    if source == "-":
        return sys.stdin.buffer
    if os.path.isfile(source):
        return Path(source).open("rb")
    return None


_OVERRIDE_OPTIONS = (
    click.option("--port", type=click.IntRange(1, 65535), help="The port the tool listens on."),
    click.option(
        "--health-path",
        metavar="PATH|none",
        help="The path whose GET must answer 2xx; none: any answer on the port but a 5xx.",
    ),
    click.option("--subdir", metavar="DIR", help="The tool's folder in the repository."),
    click.option("--dockerfile", metavar="PATH", help="The Dockerfile, in the tool's folder."),
    click.option("--target", metavar="STAGE", help="The Dockerfile stage to build."),
    click.option(
        "--build-arg", "build_args", multiple=True, metavar="KEY=VALUE", help="A build argument."
    ),
)


def override_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options that set what a tool runs with, over its manifest and Dockerfile."""
    for option in reversed(_OVERRIDE_OPTIONS):
        command = option(command)
    return command


def overrides_from(options: dict[str, Any]) -> ToolOverrides:
    from machete_core.domain.spec import ToolOverrides

    build_args: dict[str, str] = {}
    for item in options.pop("build_args", ()) or ():
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--build-arg")
        build_args[key] = value
    fields = {
        k: options.pop(k, None) for k in ("port", "health_path", "subdir", "dockerfile", "target")
    }
    return ToolOverrides(build_args=build_args, **fields)
