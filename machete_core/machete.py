"""The :class:`Machete` facade: the only thing hosts and Python programs call.

It composes a :class:`~machete_core.context.Core` and delegates: the pipeline, the reconciler and
the read side take the ``Core``, never this object. Built by :func:`create_machete`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO

from machete_core import observe, tool_config
from machete_core.access.audit import shown_url
from machete_core.access.facade import AccessMethods
from machete_core.access.principal import Principal, PrincipalKind, local
from machete_core.context import Core
from machete_core.domain.operations import LOCAL_PYTHON, Actor, OperationKind, StepProgress
from machete_core.domain.spec import ToolOverrides
from machete_core.domain.status import ReleaseStatus
from machete_core.domains import Domains
from machete_core.events import EventBus
from machete_core.follow import (
    EventCursor,
    OperationLines,
    OperationProgress,
    OperationTail,
    ToolLogFollower,
    iterate,
)
from machete_core.health import Probe
from machete_core.notify.channels import Notifications
from machete_core.observed import ObservedState
from machete_core.oplog import read_log
from machete_core.pipeline import runner, submit
from machete_core.pipeline.submit import operation_params
from machete_core.pipeline.volumes import volumes_root
from machete_core.plugins.manager import PluginManager
from machete_core.plugins.records import PluginInfo
from machete_core.plugins.report import plugin_report
from machete_core.reconcile import Reconciler, ReconcileReport
from machete_core.secrets import Credentials, SecretBox
from machete_core.settings import Settings
from machete_core.state.store import Store
from machete_core.state.views import (
    EventRecord,
    HealthEventRecord,
    OperationRecord,
    ReleaseRecord,
    ToolRecord,
)
from machete_core.triggers.webhooks import Webhooks
from machete_core.views import ConfigView, HealthTarget, ProbeResult, Route, ToolCard, ToolView

LineListener = Callable[[str], None]
StepListener = Callable[[StepProgress], None]


def create_machete(
    settings: Settings | None = None,
    *,
    builtins: Sequence[str] = (),
    plugin_manager: PluginManager | None = None,
) -> Machete:
    """Build a Machete. Hosts pass the bundled plugin modules as ``builtins``."""
    settings = settings or Settings.from_env()
    plugins = plugin_manager or PluginManager(builtins=builtins, disabled=settings.disable_plugins)
    return Machete(settings, plugins)


class Machete(AccessMethods):
    """One per host, never a global. Everything is synchronous.

    Long operations come in two halves so that a web host can answer at once: ``submit_*``
    validates and records an operation, :meth:`run` executes it. The convenience methods
    (:meth:`install`, :meth:`deploy`, ...) do both. Every operation names its :class:`Actor`;
    calls from Python default to the local Python actor.

    Every call is authorized for the object's :class:`Principal`: the local one (the host
    itself, which may do everything) unless :meth:`acting_as` bound another; the HTTP host
    binds one per request, so every caller meets the same permission table.
    """

    def __init__(
        self, settings: Settings, plugins: PluginManager, principal: Principal | None = None
    ) -> None:
        self.core = Core(settings, plugins)
        self._principal = principal or local()

    def acting_as(self, principal: Principal) -> Machete:
        """This installation, acting for ``principal`` (sharing everything else)."""
        other = object.__new__(Machete)
        other.core = self.core
        other._principal = principal
        return other

    @property
    def principal(self) -> Principal:
        return self._principal

    def _tool(self, action: str, ident: str | int) -> ToolRecord:
        return self._guard.tool(action, ident)

    def _audited(self, action: str, tool: str | None, target: str | None = None) -> Any:
        return self._guard.audited(action, tool, target)

    def _actor(self, given: Actor) -> Actor:
        return given if self._principal.kind == PrincipalKind.LOCAL else self._principal.actor()

    # The parts a host or an embedding program may read (the store for tests and tools).
    @property
    def settings(self) -> Settings:
        return self.core.settings

    @property
    def plugins(self) -> PluginManager:
        return self.core.plugins

    @property
    def store(self) -> Store:
        return self.core.store

    @property
    def events(self) -> EventBus:
        return self.core.events

    @property
    def observed(self) -> ObservedState:
        return self.core.observed

    @property
    def secrets(self) -> SecretBox:
        return self.core.secrets

    @property
    def holder_id(self) -> str:
        """Who this object is to other processes: ``host:pid:id``."""
        return self.core.holder_id

    def close(self) -> None:
        self.core.close()

    def check_database(self) -> str:
        """Open the database (migrating it) and read from it once; returns its dialect."""
        self.store.list_operations(None, limit=1)
        return self.store.engine.dialect.name

    def state_generation(self) -> tuple[int, int]:
        """Changes this process has seen: writes to the store, observations of instances.
        Caches of rendered views compare it (another process's changes arrive as events)."""
        return (self.store.generation, self.observed.generation)

    def try_lock(self, name: str, seconds: float) -> bool:
        """Take (or renew) the named lock shared by every process on this database."""
        return self.store.try_lock(name, self.holder_id, seconds)

    def __enter__(self) -> Machete:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plugins -------------------------------------------------------------------------

    def effective_settings(self) -> list[tuple[str, str]]:
        """The settings in force, secrets masked (admins)."""
        self.authorize("settings.read")
        return self.settings.shown()

    def plugin_infos(self) -> list[PluginInfo]:
        self.authorize("plugins.read")
        return self.plugins.plugins()

    def plugin_report(self) -> list[dict[str, Any]]:
        """Plugins as JSON-ready data, each provider with ``available`` and the reason if not."""
        self.authorize("plugins.read")
        return plugin_report(self.plugins)

    def source_credentials(self, sealed: str | None) -> Credentials | None:
        return self.core.source_credentials(sealed)

    def tool_data_dir(self, tool: str) -> Path:
        """Where the tool's volumes live, one directory each (``./data`` is ``data``)."""
        return volumes_root(self.settings, tool)

    # -- operations ----------------------------------------------------------------------

    @property
    def hooks(self) -> Webhooks:
        """The tool's push webhook and polling (``machete_core.triggers``)."""
        return Webhooks(self.core, self._principal)

    @property
    def domains(self) -> Domains:
        """Custom domains, the ingress and its routes (``machete_core.domains``)."""
        return Domains(self.core, self._principal)

    @property
    def notifications(self) -> Notifications:
        """Notification channels, their tests and deliveries (``machete_core.notify``)."""
        return Notifications(self.core, self._principal)

    @cached_property
    def _reconciler(self) -> Reconciler:
        return Reconciler(self.core)

    def reconcile(self, *, forget_unknown: bool = False) -> ReconcileReport:
        """Match the runtime to the database and end interrupted operations (see reconcile.py).

        ``forget_unknown`` lets it remove this installation's engine objects although the
        database has never known them (otherwise that is refused: ``state_missing``)."""
        self.authorize("reconcile")
        return self._reconciler.run(forget_unknown=forget_unknown)

    def holder_alive(self, op: OperationRecord) -> bool:
        return self.core.holder_alive(op)

    def submit_install(
        self,
        url: str,
        *,
        name: str | None = None,
        ref: str | None = None,
        source: str = "",
        credentials: Credentials | None = None,
        overrides: ToolOverrides | None = None,
        actor: Actor = LOCAL_PYTHON,
    ) -> OperationRecord:
        """Record the install of a tool from ``url``; ``overrides`` (port, health path,
        folder, Dockerfile, stage, build arguments) are stored with the tool."""
        self.authorize("tools.install")
        with self._audited("tools.install", name, target=name or shown_url(url)):
            return submit.submit_install(
                self.core,
                url,
                self._actor(actor),
                name=name,
                ref=ref,
                source=source,
                credentials=credentials,
                overrides=overrides,
            )

    def submit_upload(
        self,
        stream: BinaryIO,
        *,
        tool: str | int | None = None,
        name: str | None = None,
        filename: str | None = None,
        overrides: ToolOverrides | None = None,
        actor: Actor = LOCAL_PYTHON,
    ) -> OperationRecord:
        """Store an uploaded archive (streamed, size-capped), then install or redeploy from it.

        With ``tool`` the existing tool is redeployed from the archive; otherwise a new tool is
        installed (named by ``name``, its manifest, or ``filename``).
        """
        if tool is None:
            self.authorize("tools.install")
        else:
            tool = self._tool("tools.operate", tool).name
        with self._audited(
            "tools.install" if tool is None else "tools.deploy",
            None if tool is None else str(tool),
            target=str(tool or name),
        ):
            return submit.submit_upload(
                self.core,
                stream,
                self._actor(actor),
                tool=tool,
                name=name,
                filename=filename,
                overrides=overrides,
            )

    def submit(
        self,
        kind: OperationKind | str,
        ident: str | int,
        *,
        actor: Actor = LOCAL_PYTHON,
        wait: float | None = None,
        on_wait: Callable[[OperationRecord], None] | None = None,
        **params: Any,
    ) -> OperationRecord:
        """Record a deploy, build, start, stop, restart, rollback, scale or remove of an
        installed tool; ``params`` are the fields of the kind's params record.

        A tool busy with another operation (of any process on this state) is refused with
        :class:`~machete_core.errors.ToolBusyError`, or waited for up to ``wait`` seconds;
        ``on_wait`` hears which operation is being waited for.
        """
        kind = OperationKind(kind)
        record = operation_params(kind, params)
        action = "tools.remove" if kind == OperationKind.REMOVE else "tools.operate"
        tool = self._tool(action, ident)
        with self._audited(f"tools.{kind.value}", tool.name):
            return submit.submit_change(
                self.core, kind, tool.id, record, self._actor(actor), wait=wait, on_wait=on_wait
            )

    def run(
        self,
        op_id: str,
        *,
        on_line: LineListener | None = None,
        on_step: StepListener | None = None,
    ) -> OperationRecord:
        """Execute a submitted operation to its end; errors end up recorded, and re-raised.
        ``on_line`` hears each log line, ``on_step`` each step's start and end."""
        return runner.run_operation(self.core, op_id, on_line=on_line, on_step=on_step)

    def cancel(self, op_id: str) -> bool:
        """Ask an unfinished operation to stop, whichever process runs it.

        Here it stops at once; elsewhere its holder sees the request at its next heartbeat
        (about a second). An operation whose holder died is ended and undone now. False
        when the operation had already ended.
        """
        op = self._guard.operation(op_id, "tools.operate")
        with self._audited("operations.cancel", op.tool_name, target=op_id):
            return runner.cancel_operation(self.core, op_id)

    def cancel_all(self) -> None:
        """Cancel every operation this object holds (a host shutting down)."""
        for op_id in list(self.core.cancels):
            self.cancel(op_id)

    def install(
        self,
        url: str,
        *,
        name: str | None = None,
        ref: str | None = None,
        credentials: Credentials | None = None,
        overrides: ToolOverrides | None = None,
        on_line: LineListener | None = None,
        actor: Actor = LOCAL_PYTHON,
    ) -> OperationRecord:
        op = self.submit_install(
            url, name=name, ref=ref, credentials=credentials, overrides=overrides, actor=actor
        )
        return self.run(op.id, on_line=on_line)

    def deploy(self, ident: str | int, *, force: bool = False, **kw: Any) -> OperationRecord:
        return self._do(OperationKind.DEPLOY, ident, force=force, **kw)

    def build(self, ident: str | int, **kw: Any) -> OperationRecord:
        return self._do(OperationKind.BUILD, ident, **kw)

    def start(self, ident: str | int, **kw: Any) -> OperationRecord:
        return self._do(OperationKind.START, ident, **kw)

    def stop(self, ident: str | int, **kw: Any) -> OperationRecord:
        return self._do(OperationKind.STOP, ident, **kw)

    def restart(self, ident: str | int, **kw: Any) -> OperationRecord:
        return self._do(OperationKind.RESTART, ident, **kw)

    def rollback(self, ident: str | int, release: int | None = None, **kw: Any) -> OperationRecord:
        """Redeploy a retained release (default: the one before the live one), no rebuild."""
        return self._do(OperationKind.ROLLBACK, ident, release=release, **kw)

    def scale(self, ident: str | int, replicas: int, **kw: Any) -> OperationRecord:
        """Run ``replicas`` copies of the live release (runtimes that can, e.g. ``swarm``)."""
        return self._do(OperationKind.SCALE, ident, replicas=replicas, **kw)

    def remove(self, ident: str | int, *, purge: bool = False, **kw: Any) -> OperationRecord:
        return self._do(OperationKind.REMOVE, ident, purge=purge, **kw)

    def _do(
        self,
        kind: OperationKind,
        ident: str | int,
        *,
        on_line: LineListener | None = None,
        on_step: StepListener | None = None,
        actor: Actor = LOCAL_PYTHON,
        **params: Any,
    ) -> OperationRecord:
        op = self.submit(kind, ident, actor=actor, **params)
        return self.run(op.id, on_line=on_line, on_step=on_step)

    def operations(self, ident: str | int | None = None, limit: int = 50) -> list[OperationRecord]:
        if ident is not None:
            return self.store.list_operations(self._tool("tools.read", ident).name, limit=limit)
        self.authorize("tools.read")
        visible = self.visible_tool_names()
        ops = self.store.list_operations(None, limit=limit)
        if visible is None:
            return ops
        return [op for op in ops if op.tool_name in visible or op.actor == self._principal.actor()]

    def operation(self, op_id: str) -> OperationRecord:
        return self._guard.operation(op_id, "tools.read")

    def operation_log(self, op_id: str, offset: int = 0) -> tuple[str, int]:
        return read_log(Path(self._guard.operation(op_id, "tools.read").log_path), offset)

    def operation_tail(self, op_id: str, offset: int = 0) -> OperationTail:
        """A non-blocking follower of an operation's log (hosts poll its ``read``)."""
        self._guard.operation(op_id, "tools.read")
        return OperationTail(self.core, op_id, offset)

    def operation_lines(self, op_id: str, offset: int = 0) -> OperationLines:
        """A non-blocking follower of an operation's log lines with their byte offsets (a
        reader resumes exactly at the line after the last one it had)."""
        self._guard.operation(op_id, "tools.read")
        return OperationLines(self.core, op_id, offset)

    def operation_progress(self, op_id: str) -> OperationProgress:
        """A non-blocking follower of an operation's log lines and step reports, in order."""
        self._guard.operation(op_id, "tools.read")
        return OperationProgress(self.core, op_id)

    def follow_operation(self, op_id: str, offset: int = 0, *, poll: float = 0.2) -> Iterator[str]:
        """An operation's log from ``offset``, line by line, live until the operation ends
        (whichever process runs it)."""
        return iterate(self.operation_tail(op_id, offset).read, poll)

    # -- tools: reading ------------------------------------------------------------------

    def list_tools(self) -> list[ToolView]:
        self.authorize("tools.read")
        views = observe.list_views(self.core)
        visible = self.visible_tool_names()
        return views if visible is None else [v for v in views if v.name in visible]

    def tool_cards(self) -> list[ToolCard]:
        """The visible tools with their last operation and last health check (the
        dashboard's listing)."""
        return observe.cards(self.core, self.list_tools())

    def get(self, ident: str | int, *, probe_health: bool = True) -> ToolView:
        return observe.one_view(
            self.core, self._tool("tools.read", ident), probe_health=probe_health
        )

    def route(self, ident: str | int) -> Route:
        """Where requests for the tool go now: its live release's endpoint."""
        return observe.route(self.core, self._tool("tools.read", ident).name)

    def health(self, ident: str | int) -> Probe:
        """Probe the tool's health endpoint once, now."""
        return observe.probe_now(self.core, self._tool("tools.read", ident).name)

    def health_history(self, ident: str | int, limit: int = 100) -> list[HealthEventRecord]:
        return self.store.health_history(self._tool("tools.read", ident).id, limit)

    def releases(self, ident: str | int) -> list[ReleaseRecord]:
        return self.store.list_releases(self._tool("tools.read", ident).id)

    def logs(
        self, ident: str | int, *, tail: int | None = 100, follow: bool = False
    ) -> Iterator[str]:
        return observe.tool_logs(
            self.core, self._tool("tools.logs", ident).name, tail=tail, follow=follow
        )

    def tool_log_follower(self, ident: str | int, *, tail: int = 100) -> ToolLogFollower:
        """A non-blocking follower of the tool's output across releases, with its lifecycle
        events in between (hosts poll its ``read``; close it when done)."""
        return ToolLogFollower(self.core, self._tool("tools.logs", ident).name, tail=tail)

    def follow_tool(self, ident: str | int, *, tail: int = 100, poll: float = 0.3) -> Iterator[str]:
        follower = self.tool_log_follower(ident, tail=tail)
        try:
            yield from iterate(follower.read, poll)
        finally:
            follower.close()

    # -- tools: settings and configuration -------------------------------------------------

    def set_flags(
        self,
        ident: str | int,
        *,
        enabled: bool | None = None,
        auto_start: bool | None = None,
        builder: str | None = None,
    ) -> ToolView:
        """Tool settings. ``builder``: a builder's name, ``auto``, or ``""`` for the default;
        it applies from the next deploy (a manifest's ``machete.builder`` still wins)."""
        name = self._tool("tools.config", ident).name
        with self._audited("tools.settings", name):
            tool = tool_config.set_flags(
                self.core, name, enabled=enabled, auto_start=auto_start, builder=builder
            )
        return observe.one_view(self.core, tool, probe_health=False)

    def set_overrides(
        self, ident: str | int, overrides: ToolOverrides, *, clear: tuple[str, ...] = ()
    ) -> ToolView:
        """Change what the operator set for the tool (port, health path, folder, Dockerfile,
        stage, build arguments); it applies from the next deploy."""
        name = self._tool("tools.config", ident).name
        with self._audited("tools.overrides", name):
            tool = tool_config.set_overrides(self.core, name, overrides, clear=clear)
        return observe.one_view(self.core, tool, probe_health=False)

    def config(self, ident: str | int) -> list[ConfigView]:
        """The tool's configuration; secret values are shown as ``***``."""
        return tool_config.config_views(self.core, self._tool("tools.config", ident).name)

    def change_config(
        self,
        ident: str | int,
        values: dict[str, str] | None = None,
        *,
        secret: bool = False,
        unset: tuple[str, ...] = (),
        actor: Actor = LOCAL_PYTHON,
    ) -> OperationRecord | None:
        """Store a configuration change; a deployed tool gets a new release through the gate.

        Returns the deploy operation to run (None when the tool has never been deployed).
        """
        name = self._tool("tools.config", ident).name
        if secret:
            self._tool("tools.secrets", name)
        # Names only: a configuration value never reaches the audit log.
        keys = ",".join(sorted(values or {})) + ("; unset " + ",".join(unset) if unset else "")
        with self._audited("tools.config", name, target=f"{name}: {keys}"):
            return tool_config.change_config(
                self.core,
                name,
                values or {},
                secret=secret,
                unset=unset,
                actor=self._actor(actor),
            )

    # -- health monitor and events ---------------------------------------------------------

    def health_targets(self) -> list[HealthTarget]:
        """What the monitor probes: every tool whose live release should be running."""
        self._guard.system_only()
        return observe.health_targets(self.core)

    def record_health(self, results: Sequence[ProbeResult]) -> int:
        """Keep a round of probes' results (one call for the round: the monitor's thread hops
        are per round, not per tool); changes are stored and published. How many changed."""
        self._guard.system_only()
        return sum(observe.record_health(self.core, r.target, r.healthy, r.detail) for r in results)

    def forget_health_cache(self) -> None:
        """Read each tool's last health from the database again (another process may have
        recorded changes meanwhile)."""
        self.core.last_health.clear()

    def refresh_observed(self) -> int:
        """Observe every live instance again; returns how many were observed."""
        self._guard.system_only()
        return observe.refresh_observed(self.core)

    def keep_observed(self, stop: threading.Event) -> None:
        """Follow the engine's events until ``stop`` (a server's watcher thread runs this)."""
        self._guard.system_only()
        observe.keep_observed(self.core, stop)

    def refresh_instance(self, instance_id: str) -> None:
        """The engine said something about ``instance_id``: observe it again."""
        observe.refresh_instance(self.core, instance_id)

    def event_cursor(self, *, after: int | None = None, tool: str | None = None) -> EventCursor:
        """A non-blocking follower of lifecycle events (of every process on this state)."""
        self.authorize("events.read")
        if tool is not None and self.store.find_tool(tool) is not None:
            self._tool("tools.read", tool)  # a tool not (yet) installed has no events to hide
        return EventCursor(self.core, after=after, tool=tool)

    def last_event_id(self) -> int:
        """The newest recorded event's id (to follow on from a listing)."""
        self.authorize("events.read")
        return self.store.last_event_id()

    def events_log(
        self, *, last: int = 20, tool: str | None = None, follow: bool = False, poll: float = 0.3
    ) -> Iterator[EventRecord]:
        """The ``last`` recorded lifecycle events (of every process on this state), then, with
        ``follow``, new ones as they are recorded."""
        self.authorize("events.read")
        visible = self.visible_tool_names()
        recent = self.store.recent_events(last, tool=tool) if last > 0 else []

        # ``access.*`` events are signals between servers (drop cached principals), not news.
        def shown(e: EventRecord) -> bool:
            return not e.kind.startswith("access.") and (visible is None or e.tool in visible)

        yield from filter(shown, recent)
        if follow:
            after = recent[-1].id if recent else self.store.last_event_id()
            yield from filter(shown, iterate(self.event_cursor(after=after, tool=tool).read, poll))


__all__ = ["Machete", "ReleaseStatus", "create_machete"]
