"""Click commands. Imports here stay light: the core and plugins load inside each command."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import click

from machete_cli.render import ProgressPrinter, emit_json, status_text, table, when
from machete_core.domain.operations import LOCAL_CLI
from machete_core.errors import MacheteError
from machete_core.version import __version__

if TYPE_CHECKING:
    from machete_core.machete import Machete
    from machete_core.secrets import Credentials
    from machete_core.settings import Settings

STEPS = {
    "install": 6,
    "deploy": 7,
    "build": 3,
    "start": 2,
    "restart": 3,
    "rollback": 5,
    "scale": 2,
}


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
            from machete_core.machete import create_machete
            from machete_plugins import BUILTIN_PLUGINS

            self._machete = create_machete(self.settings(), builtins=BUILTIN_PLUGINS)
        return self._machete

    def close(self) -> None:
        if self._machete is not None:
            self._machete.close()


class MacheteGroup(click.Group):
    """Turns MacheteError into one clear line and a non-zero exit (traceback with --debug)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MacheteError as exc:
            if _debug(ctx):
                raise
            click.secho(f"error [{exc.code}]: {exc.message}", fg="red", err=True)
            for line in exc.details.get("last_lines", [])[-10:]:
                click.echo(f"    {line}", err=True)
            ctx.exit(1)
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt):
            raise
        except BrokenPipeError:
            _quiet_broken_pipe()
        except Exception as exc:
            if _debug(ctx):
                raise
            click.secho(
                f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)",
                fg="red",
                err=True,
            )
            ctx.exit(70)


def _quiet_broken_pipe() -> None:
    """The reader went away (``machete operations | head``): stop without a traceback.

    Python would complain again when it flushes stdout at exit, so stdout is pointed at
    /dev/null first (the recipe of the ``signal`` module's documentation)."""
    import os
    import sys

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    sys.exit(0)


def _debug(ctx: click.Context) -> bool:
    obj = ctx.find_object(Context)
    return bool(obj and obj.debug) or "--debug" in sys.argv


pass_ctx = click.make_pass_decorator(Context)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.group(cls=MacheteGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="machete")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.option(
    "--no-plugins", is_flag=True, help="Load only the bundled plugins (no third-party ones)."
)
@click.option(
    "--home",
    type=click.Path(file_okay=False),
    envvar="MACHETE_HOME",
    help="State directory (default: $MACHETE_HOME or ~/.local/share/machete).",
)
@click.pass_context
def cli(ctx: click.Context, debug: bool, no_plugins: bool, home: str | None) -> None:
    """MACHETE: install, build, run and operate small internal tools."""
    obj = Context(debug, no_plugins, home)
    ctx.obj = obj
    ctx.call_on_close(obj.close)


def _credentials(
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


def _archive_argument(source: str) -> BinaryIO | None:
    """An archive to upload: ``-`` (stdin) or an existing file; None for URLs and folders."""
    if source == "-":
        return sys.stdin.buffer
    if os.path.isfile(source):
        return Path(source).open("rb")
    return None


wait_option = click.option(
    "--wait",
    is_flag=True,
    help="If the tool is busy with another operation, wait for it to end instead of failing.",
)


def _waiting(op: Any) -> None:
    click.echo(f"waiting: {op.tool_name} is busy with operation {op.id} ({op.kind})", err=True)


def _submit(kind: str, name: str, wait: bool, **params: Any) -> Callable[[Machete], Any]:
    return lambda m: m.submit(
        kind,
        name,
        actor=LOCAL_CLI,
        wait=float("inf") if wait else None,
        on_wait=_waiting,
        **params,
    )


def _run_op(
    obj: Context, submit: Callable[[Machete], Any], as_json: bool, quiet: bool = False
) -> Any:
    m = obj.machete
    op = submit(m)
    printer = None if quiet else ProgressPrinter(err=as_json, steps=STEPS.get(op.kind, 0))
    try:
        final = m.run(op.id, on_line=printer)
    except MacheteError:
        if as_json:
            from machete_core.views import to_data

            emit_json(to_data(m.operation(op.id)))
        raise
    if as_json:
        from machete_core.views import to_data

        emit_json(to_data(final))
    return final


@cli.command()
@click.argument("source")
@click.option("--name", help="Tool name (default: manifest, package.json, then URL).")
@click.option("--ref", help="Branch, tag or commit (default: the remote's default branch).")
@click.option("--username", help="User for a private source (default 'git' with a token).")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password or token from standard input."
)
@click.option(
    "--password-env", metavar="VAR", help="Read the password or token from this variable."
)
@json_option
@pass_ctx
def install(
    obj: Context,
    source: str,
    name: str | None,
    ref: str | None,
    username: str | None,
    password_stdin: bool,
    password_env: str | None,
    as_json: bool,
) -> None:
    """Install a tool from a Git URL, an archive URL, or an archive file (- for stdin).

    Fetch, build, start, and wait until the tool is healthy.
    """
    archive = _archive_argument(source)
    if archive is not None:
        filename = None if source == "-" else os.path.basename(source)

        def submit(m: Machete) -> Any:
            with archive as stream:
                return m.submit_upload(stream, name=name, filename=filename, actor=LOCAL_CLI)

        final = _run_op(obj, submit, as_json)
    else:
        creds = _credentials(username, password_stdin, password_env)
        final = _run_op(
            obj,
            lambda m: m.submit_install(
                source, name=name, ref=ref, credentials=creds, actor=LOCAL_CLI
            ),
            as_json,
        )
    if not as_json:
        view = obj.machete.get(final.tool_name)
        click.secho(f"installed {view.name}: {view.status} at {view.url}", fg="green")


@cli.command()
@click.argument("name")
@click.option("--force", is_flag=True, help="Rebuild and restart even if nothing changed.")
@click.option(
    "--archive",
    metavar="FILE",
    help="Deploy this archive (tar, tar.gz, tar.bz2, tar.xz, zip; - for stdin) instead.",
)
@wait_option
@json_option
@pass_ctx
def deploy(
    obj: Context, name: str, force: bool, archive: str | None, wait: bool, as_json: bool
) -> None:
    """Fetch the latest source and redeploy (the old instance serves until the new is healthy)."""
    stream = _archive_argument(archive) if archive else None
    if archive and stream is None:
        raise click.BadParameter(f"{archive} is not a file", param_hint="--archive")
    if stream is not None:

        def submit(m: Machete) -> Any:
            with stream as body:
                return m.submit_upload(body, tool=name, actor=LOCAL_CLI)

        _run_op(obj, submit, as_json)
    else:
        _run_op(obj, _submit("deploy", name, wait, force=force), as_json)
    if not as_json:
        view = obj.machete.get(name)
        click.secho(f"{view.name}: release {view.release} {view.status}", fg="green")


@cli.command()
@click.argument("name")
@click.argument("release", type=int, required=False)
@wait_option
@json_option
@pass_ctx
def rollback(obj: Context, name: str, release: int | None, wait: bool, as_json: bool) -> None:
    """Run an earlier release again (default: the one before the live one), without building."""
    _run_op(obj, _submit("rollback", name, wait, release=release), as_json)
    if not as_json:
        view = obj.machete.get(name)
        click.secho(f"{view.name}: release {view.release} {view.status}", fg="green")


@cli.command()
@click.argument("name")
@wait_option
@json_option
@pass_ctx
def build(obj: Context, name: str, wait: bool, as_json: bool) -> None:
    """Fetch and build a new image without starting it."""
    _run_op(obj, _submit("build", name, wait), as_json)


def _verb(kind: str, help_text: str) -> None:
    @cli.command(name=kind, help=help_text)
    @click.argument("name")
    @wait_option
    @json_option
    @pass_ctx
    def command(obj: Context, name: str, wait: bool, as_json: bool) -> None:
        _run_op(obj, _submit(kind, name, wait), as_json, quiet=True)
        if not as_json:
            view = obj.machete.get(name)
            click.echo(f"{view.name}: {status_text(view.status)}")


_verb("start", "Start a stopped tool and wait until it is healthy.")
_verb("stop", "Stop a tool (its container and data are kept).")
_verb("restart", "Restart a tool and wait until it is healthy.")


@cli.command()
@click.argument("name")
@click.argument("replicas", type=click.IntRange(1, 100))
@wait_option
@json_option
@pass_ctx
def scale(obj: Context, name: str, replicas: int, wait: bool, as_json: bool) -> None:
    """Run REPLICAS copies of the tool (a rolling update on runtimes that can, e.g. swarm)."""
    _run_op(obj, _submit("scale", name, wait, replicas=replicas), as_json)
    if not as_json:
        click.echo(f"{name}: {replicas} replica(s) running")


@cli.command(name="rm")
@click.argument("name")
@click.option("--purge", is_flag=True, help="Also delete the tool's data directory.")
@wait_option
@json_option
@pass_ctx
def remove(obj: Context, name: str, purge: bool, wait: bool, as_json: bool) -> None:
    """Remove a tool: its containers and images (data is kept unless --purge)."""
    _run_op(obj, _submit("remove", name, wait, purge=purge), as_json, quiet=True)
    if not as_json:
        click.echo(f"removed {name}" + (" and its data" if purge else " (data kept)"))


@cli.command(name="config")
@click.argument("args", nargs=-1, required=True)
@click.option("--secret", is_flag=True, help="With set: store the values as secrets.")
@json_option
@pass_ctx
def config_command(obj: Context, args: tuple[str, ...], secret: bool, as_json: bool) -> None:
    """Show or change a tool's configuration (its environment).

    \b
    machete config NAME                         show it (secrets as ***)
    machete config set NAME KEY=VALUE... [--secret]
    machete config unset NAME KEY...
    KEY=- reads that value from standard input. A change of a deployed tool is a new release
    through the health gate.
    """
    action, rest = (args[0], args[1:]) if args[0] in ("set", "unset") else ("show", args)
    if not rest:
        raise click.UsageError("name the tool")
    name, items = rest[0], rest[1:]
    m = obj.machete
    if action == "show":
        if items:
            raise click.UsageError("to change values use: machete config set NAME KEY=VALUE")
        entries = m.config(name)
        if as_json:
            from machete_core.views import to_data

            emit_json(to_data(entries))
        else:
            for entry in entries:
                click.echo(f"{entry.key}={entry.value}")
        return
    if not items:
        raise click.UsageError(f"config {action} needs KEY=VALUE pairs or keys")
    values: dict[str, str] = {}
    unset: tuple[str, ...] = ()
    if action == "set":
        for item in items:
            key, sep, value = item.partition("=")
            if not sep:
                raise click.UsageError(f"{item!r} is not KEY=VALUE")
            values[key] = sys.stdin.readline().rstrip("\r\n") if value == "-" else value
    else:
        unset = tuple(items)
    op = m.change_config(name, values, secret=secret, unset=unset, actor=LOCAL_CLI)
    if op is None:
        click.echo(f"{name}: configuration saved; it applies at the next deploy")
        return
    _run_op(obj, lambda _m: op, as_json, quiet=False)
    if not as_json:
        click.echo(f"{name}: configuration applied in release {m.get(name).release}")


@cli.command(name="set")
@click.argument("name")
@click.option("--builder", help="Builder for this tool (docker, buildx, auto; '' for the default).")
@click.option("--enabled/--disabled", default=None, help="Whether the tool may run.")
@click.option("--auto-start/--no-auto-start", default=None, help="Start it with the platform.")
@json_option
@pass_ctx
def set_settings(
    obj: Context,
    name: str,
    builder: str | None,
    enabled: bool | None,
    auto_start: bool | None,
    as_json: bool,
) -> None:
    """Change a tool's settings; they apply from its next deploy."""
    view = obj.machete.set_flags(name, enabled=enabled, auto_start=auto_start, builder=builder)
    if as_json:
        from machete_core.views import to_data

        emit_json(to_data(view))
        return
    state = "enabled" if view.enabled else "disabled"
    auto = "on" if view.auto_start else "off"
    click.echo(f"{view.name}: builder {view.builder or 'default'}, {state}, auto-start {auto}")


@cli.command()
@click.argument("name")
@json_option
@pass_ctx
def health(obj: Context, name: str, as_json: bool) -> None:
    """Probe a tool's health now, and show the changes the monitor has seen."""
    m = obj.machete
    probe = m.health(name)
    history = m.health_history(name, limit=20)
    if as_json:
        from machete_core.views import to_data

        emit_json({"healthy": probe.healthy, "error": probe.error, "history": to_data(history)})
        return
    click.echo(
        f"{name}: {status_text('healthy' if probe.healthy else 'unhealthy')}"
        + (f" ({probe.error})" if probe.error else "")
    )
    for event in history:
        click.echo(
            f"  {when(event.at)}  {status_text(event.health)}  {event.detail or ''}".rstrip()
        )


@cli.command()
@click.option(
    "--forget-unknown",
    is_flag=True,
    help="Remove this installation's containers and images although the database has never "
    "known them (after a lost database; otherwise refused with state_missing).",
)
@json_option
@pass_ctx
def reconcile(obj: Context, forget_unknown: bool, as_json: bool) -> None:
    """Match running instances to the database; end operations whose process died."""
    import attrs

    report = obj.machete.reconcile(forget_unknown=forget_unknown)
    if as_json:
        emit_json(attrs.asdict(report))
        return
    if report.skipped:
        click.echo("another process is reconciling right now; nothing done")
        return
    for key, items in attrs.asdict(report).items():
        if items and isinstance(items, list):
            click.echo(f"{key.replace('_', ' ')}: {', '.join(items)}")
    if not any(attrs.astuple(report)):
        click.echo("nothing to do: everything matches")


@cli.command(name="ls")
@json_option
@pass_ctx
def list_tools(obj: Context, as_json: bool) -> None:
    """List installed tools."""
    tools = obj.machete.list_tools()
    if as_json:
        from machete_core.views import to_data

        emit_json(to_data(tools))
        return
    if not tools:
        click.echo("no tools installed (try: machete install https://host/team/tool.git)")
        return
    table(
        ["name", "status", "release", "url", "source"],
        [(t.name, status_text(t.status), t.release, t.url, t.source_url) for t in tools],
    )


@cli.command()
@click.argument("name")
@json_option
@pass_ctx
def status(obj: Context, name: str, as_json: bool) -> None:
    """Show a tool's status and health (probed now)."""
    view = obj.machete.get(name)
    if as_json:
        from machete_core.views import to_data

        emit_json(to_data(view))
        return
    rows = [
        ("name", view.name),
        ("status", status_text(view.status)),
        ("health", status_text(view.health)),
        ("reason", view.reason),
        ("release", view.release),
        ("commit", view.commit),
        ("image", view.image),
        ("url", view.url),
        ("source", view.source_url + (f" ({view.source_ref})" if view.source_ref else "")),
        ("port", view.port),
        ("health check", view.health_check),
        ("runtime", view.runtime + (f" ({view.replicas} replicas)" if view.replicas > 1 else "")),
        ("restarts", view.restart_count or None),
    ]
    for key, value in rows:
        if value not in (None, ""):
            click.echo(f"{key + ':':14}{value}")


@cli.command()
@click.argument("name")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@click.option("--tail", type=int, default=100, show_default=True, help="Lines from the end.")
@pass_ctx
def logs(obj: Context, name: str, follow: bool, tail: int) -> None:
    """Print a tool's container logs; with -f, follow the tool across deploys, with its
    lifecycle events (release live, failed, health changes) in between."""
    try:
        if follow:
            lines = obj.machete.follow_tool(name, tail=tail)
        else:
            lines = obj.machete.logs(name, tail=tail)
        for line in lines:
            click.echo(line)
    except KeyboardInterrupt:
        pass


@cli.command()
@click.argument("name", required=False)
@json_option
@pass_ctx
def operations(obj: Context, name: str | None, as_json: bool) -> None:
    """List recent operations (of one tool, or all)."""
    ops = obj.machete.operations(name)
    if as_json:
        from machete_core.views import to_data

        emit_json(to_data(ops))
        return
    table(
        ["id", "kind", "tool", "status", "created", "error"],
        [
            (o.id, o.kind, o.tool_name, status_text(o.status), when(o.created_at), o.error_code)
            for o in ops
        ],
    )


@cli.command()
@click.argument("op_id")
@click.option("-f", "--follow", is_flag=True, help="Follow its log live until it ends.")
@json_option
@pass_ctx
def operation(obj: Context, op_id: str, follow: bool, as_json: bool) -> None:
    """Show one operation: its steps and its log (of whichever process runs it)."""
    m = obj.machete
    op = m.operation(op_id)
    if as_json:
        from machete_core.views import to_data

        emit_json(to_data(op))
        return
    click.echo(f"{op.kind} of {op.tool_name}: {status_text(op.status)} ({when(op.created_at)})")
    for step in op.steps:
        click.echo(f"  {step.name:18}{step.status:9}{step.detail or ''}")
    try:
        if follow:
            for line in m.follow_operation(op.id):
                click.echo(line)
            op = m.operation(op.id)
            click.echo(f"{op.kind} {status_text(op.status)}")
        else:
            click.echo(m.operation_log(op.id)[0], nl=False)
    except KeyboardInterrupt:
        pass
    if op.error_code:
        click.secho(f"error [{op.error_code}]: {op.error_message}", fg="red", err=True)


@cli.command()
@click.argument("op_id")
@pass_ctx
def cancel(obj: Context, op_id: str) -> None:
    """Ask an operation to stop, whichever process runs it (its old release keeps serving)."""
    if obj.machete.cancel(op_id):
        click.echo(f"cancelling {op_id}")
    else:
        click.echo(f"{op_id} has already ended")


@cli.command()
@click.option("--tool", "tool", help="Only this tool's events.")
@click.option("-n", "--last", type=int, default=20, show_default=True, help="Earlier events.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new events.")
@json_option
@pass_ctx
def events(obj: Context, tool: str | None, last: int, follow: bool, as_json: bool) -> None:
    """Lifecycle events of every process on this state (what /api/events streams)."""
    import json

    try:
        for event in obj.machete.events_log(last=last, tool=tool, follow=follow):
            if as_json:
                from machete_core.views import to_data

                click.echo(json.dumps(to_data(event)))
                continue
            detail = " ".join(f"{k}={v}" for k, v in event.data.items())
            click.echo(f"{when(event.at)}  {event.kind:20} {event.tool or '-':16} {detail}")
    except KeyboardInterrupt:
        pass


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--no-logs", is_flag=True, help="Leave the operation logs out.")
@json_option
@pass_ctx
def backup(obj: Context, file: Path, no_logs: bool, as_json: bool) -> None:
    """Write the whole state to FILE (.tar.gz): database, secret key, tool data, uploads, logs.

    FILE holds the secret key: keep it as safe as the key itself.
    """
    import attrs

    from machete_core.backup import create_backup

    report = create_backup(obj.settings(), file, include_logs=not no_logs)
    if as_json:
        emit_json(attrs.asdict(report))
        return
    rows = ", ".join(f"{n} {t}" for t, n in report.tables.items() if n)
    click.echo(f"backed up to {report.path} ({report.bytes} bytes): {rows}; {report.files} files")


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace the state of an installation that has tools.")
@json_option
@pass_ctx
def restore(obj: Context, file: Path, force: bool, as_json: bool) -> None:
    """Restore a backup made by `machete backup` into this installation (stop `serve` first)."""
    import attrs

    from machete_core.backup import restore_backup

    report = restore_backup(obj.settings(), file, force=force)
    if as_json:
        emit_json(attrs.asdict(report))
        return
    click.echo(
        f"restored {report.tables.get('tools', 0)} tool(s) and {report.files} files "
        f"from {report.path}. Next: `machete reconcile` (or start `machete serve`) adopts "
        "the containers that still run; on a new engine, `machete deploy NAME --force` "
        "rebuilds each tool from its source."
    )


@cli.command()
@click.argument("name")
@json_option
@pass_ctx
def releases(obj: Context, name: str, as_json: bool) -> None:
    """List a tool's releases."""
    rels = obj.machete.releases(name)
    if as_json:
        from machete_core.views import to_data

        emit_json(to_data(rels))
        return
    table(
        ["release", "status", "commit", "image", "created", "trigger"],
        [
            (
                r.number,
                status_text(r.status),
                (r.commit or "")[:12],
                r.image_tag,
                when(r.created_at),
                r.trigger,
            )
            for r in rels
        ],
    )


@cli.command()
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@json_option
def validate(path: str, as_json: bool) -> None:
    """Check the manifest in a tool folder and print the normalized spec."""

    from machete_core.domain.naming import choose_name
    from machete_core.manifest import load_manifest
    from machete_core.manifest.converter import converter

    loaded = load_manifest(Path(path))
    name = choose_name(
        manifest=loaded.spec.name,
        package_json=loaded.package_name,
        url=os.path.basename(os.path.abspath(path)),
    )
    data = {
        "name": name,
        "spec": converter().unstructure(loaded.spec),
        "warnings": list(loaded.warnings),
    }
    if as_json:
        emit_json(data)
        return
    import yaml

    for warning in loaded.warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    click.echo(f"# valid; the tool will be named {name!r}")
    click.echo(yaml.safe_dump(data["spec"], sort_keys=False, allow_unicode=True).rstrip())


@cli.command()
@json_option
@pass_ctx
def plugins(obj: Context, as_json: bool) -> None:
    """List plugins: bundled and third-party, their providers and status."""
    report = obj.machete.plugin_report()
    if as_json:
        emit_json(report)
        return
    rows = []
    for plugin in report:
        provides = ", ".join(
            f"{p['kind']}:{p['name']}"
            + (f" (unavailable: {p['unavailable_reason']})" if not p["available"] else "")
            for p in plugin["providers"]
        )
        status_col = plugin["status"] + (f": {plugin['error']}" if plugin["error"] else "")
        rows.append(
            (
                plugin["name"],
                plugin["distribution"],
                plugin["version"],
                "yes" if plugin["builtin"] else "",
                status_col,
                provides,
            )
        )
    table(["name", "distribution", "version", "bundled", "status", "provides"], rows)


@cli.command()
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8080).")
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow binding a non-loopback address (the API has no authentication yet).",
)
@pass_ctx
def serve(obj: Context, host: str | None, port: int | None, allow_remote: bool) -> None:
    """Run the HTTP API and dashboard."""
    from machete_web.server import serve as run_server

    overrides: dict[str, Any] = {}
    if host:
        overrides["host"] = host
    if port:
        overrides["port"] = port
    run_server(obj.settings(**overrides), allow_remote=allow_remote)


def main() -> None:
    try:
        cli(prog_name="machete")
    except BrokenPipeError:
        _quiet_broken_pipe()
