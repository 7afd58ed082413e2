"""What every command shares: the per-invocation :class:`Context` (options, and the backend
object built on first use), the common options, and :func:`output` (text or ``--json``)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO

import click

from machete_cli.render import emit_json

if TYPE_CHECKING:
    from machete_cli.backend.base import Backend
    from machete_cli.backend.local import LocalBackend
    from machete_cli.backend.remote import RemoteBackend
    from machete_cli.client.target import Target
    from machete_core.machete import Machete
    from machete_core.settings import Settings


class Context:
    """Holds the options; what a command works on (this machine's state, or a server) is
    decided on first use (``target``), so ``--help`` and ``validate`` decide nothing."""

    def __init__(
        self,
        debug: bool,
        no_plugins: bool,
        home: str | None,
        *,
        local: bool = False,
        home_from_option: bool = False,
    ) -> None:
        self.debug = debug
        self.no_plugins = no_plugins
        self.home = home
        self.local = local
        self.home_from_option = home_from_option
        self._target: Target | None = None
        self._local: LocalBackend | None = None
        self._remote: RemoteBackend | None = None

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
    def target(self) -> Target:
        if self._target is None:
            from machete_cli.client.target import resolve

            self._target = resolve(
                local=self.local, home=self.home, home_from_option=self.home_from_option
            )
        return self._target

    @property
    def backend(self) -> Backend:
        """The server's API (client mode), or the core on this machine's state (local mode)."""
        target = self.target
        if target.url is None:
            return self._local_backend()
        if self._remote is None:
            from machete_cli.backend.remote import RemoteBackend
            from machete_cli.client.http import ApiClient

            client = ApiClient(target.url, target.token, login_hint=target.login_hint)
            self._remote = RemoteBackend(client)
        return self._remote

    def _local_backend(self) -> LocalBackend:
        if self._local is None:
            from machete_cli import log_format
            from machete_cli.backend.local import LocalBackend

            # The core's records (warnings of work done here) rendered as the server's are.
            log_format.configure(default_level=logging.WARNING)
            self._local = LocalBackend(self.settings())
        return self._local

    def host_only(self, command: str) -> None:
        """Refuse a command that needs this machine's state when the target is elsewhere."""
        if self.target.remote:
            from machete_cli.client.errors import NeedsLocalModeError

            raise NeedsLocalModeError(
                f"machete {command} works on the server's own machine (its state directory), "
                f"not through {self.target.url}: run it there, or pass --local"
            )

    @property
    def machete(self) -> Machete:
        """The core on this machine's state, for host-only commands (after ``host_only``): the
        host's own ``local`` actor, as in local mode."""
        return self._local_backend().m

    def close(self) -> None:
        for backend in (self._local, self._remote):
            if backend is not None:
                backend.close()


pass_ctx = click.make_pass_decorator(Context)


def complete_tool(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Shell completion of tool names, asked of the server (or read from the state)."""
    # While completing, click parses without running the group: no Context was made.
    root = ctx.find_root().params
    obj = Context(False, False, root.get("home"), local=bool(root.get("local")))
    try:
        return [t["name"] for t in obj.backend.tools() if t["name"].startswith(incomplete)]
    except Exception:  # completion must never print an error into the shell
        return []
    finally:
        obj.close()


tool_argument = click.argument("name", shell_complete=complete_tool)

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
wait_option = click.option(
    "--wait",
    is_flag=True,
    help="If the tool is busy with another operation, wait for it to end instead of failing.",
)


def output(data: Any, as_json: bool, text: Callable[[], None] | None = None) -> None:
    """Render a command's result: ``data`` (a JSON document) as JSON, or the text ``text``
    prints."""
    if as_json:
        emit_json(data)
    elif text is not None:
        text()


def credentials(
    username: str | None, password_stdin: bool, password_env: str | None
) -> tuple[str, str] | None:
    """(user, secret) for a private source. Secrets come from stdin or a variable, never from
    the command line (``ps`` shows it)."""
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
    return (username or "git", secret)


def archive_argument(source: str) -> BinaryIO | None:
    """An archive to upload: ``-`` (stdin) or an existing file; None for URLs and folders."""
    if source == "-":
        return sys.stdin.buffer
    if os.path.isfile(source):
        return open(source, "rb")
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


def overrides_from(options: dict[str, Any]) -> dict[str, Any]:
    """The override options given, as the API's fields (``build_args`` a mapping)."""
    build_args: dict[str, str] = {}
    for item in options.pop("build_args", ()) or ():
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--build-arg")
        build_args[key] = value
    fields = {
        k: options.pop(k, None) for k in ("port", "health_path", "subdir", "dockerfile", "target")
    }
    given: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}
    if build_args:
        given["build_args"] = build_args
    return given
