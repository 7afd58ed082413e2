"""The :class:`Machete` object: the only thing hosts call. Built by :func:`create_machete`."""

from __future__ import annotations

import logging
import re
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from machete_core.domain.naming import choose_name
from machete_core.domain.records import CancelToken
from machete_core.domain.spec import ToolSpec
from machete_core.domain.status import OperationStatus, ReleaseStatus, ToolStatus
from machete_core.errors import (
    InternalError,
    InvalidInputError,
    MacheteError,
    NotRunningError,
    ToolBusyError,
    ToolExistsError,
    ToolUnavailableError,
)
from machete_core.events import EventBus
from machete_core.health import Probe, probe
from machete_core.leases import LeaseKeeper, holder_process_gone, lease_expired, new_holder
from machete_core.observed import ObservedState
from machete_core.oplog import read_log
from machete_core.pipeline.run import OperationRun
from machete_core.plugins.manager import PluginManager
from machete_core.plugins.protocols import Builder, Runtime, Source
from machete_core.plugins.records import PluginInfo
from machete_core.secrets import Credentials, SecretBox, redact
from machete_core.settings import Settings
from machete_core.sources.url_policy import check_source_url
from machete_core.state.store import Store
from machete_core.state.views import (
    EventRecord,
    HealthEventRecord,
    OperationRecord,
    ReleaseRecord,
    ToolRecord,
)
from machete_core.views import ConfigView, HealthTarget, Route, ToolView

if TYPE_CHECKING:
    from machete_core.reconcile import Reconciler, ReconcileReport

log = logging.getLogger(__name__)

MUTATING = (
    "install",
    "deploy",
    "build",
    "start",
    "stop",
    "restart",
    "remove",
    "rollback",
    "scale",
)
ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")


def check_replicas(value: object) -> int:
    from machete_core.manifest.loader import MAX_REPLICAS

    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_REPLICAS:
        raise InvalidInputError(f"replicas must be a whole number from 1 to {MAX_REPLICAS}")
    return value


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


class Machete:
    """Settings + plugin manager + store + event bus; one per host, never a global.

    Everything is synchronous. Long operations come in two halves so that a web host can answer
    at once: ``submit_*`` validates and records an operation, :meth:`run` executes it. The
    convenience methods (:meth:`install`, :meth:`deploy`, ...) do both.
    """

    def __init__(self, settings: Settings, plugins: PluginManager) -> None:
        self.settings = settings
        self.plugins = plugins
        #: What the runtimes last said about live instances (see observe.py).
        self.observed = ObservedState()
        self.events = EventBus(plugins.emit, record=self._record_event)
        self._instances: dict[tuple[str, str], Any] = {}
        self._instances_lock = threading.Lock()
        self._cancels: dict[str, CancelToken] = {}
        self._holder = new_holder()
        self._build_slots = threading.BoundedSemaphore(max(1, settings.max_concurrent_builds))
        self._last_health: dict[int, str] = {}

    @cached_property
    def secrets(self) -> SecretBox:
        return SecretBox.for_home(self.settings.home)

    def source_credentials(self, sealed: str | None) -> Credentials | None:
        return self.secrets.open_credentials(sealed) if sealed else None

    @cached_property
    def store(self) -> Store:
        self.settings.home.mkdir(parents=True, exist_ok=True)
        return Store.open(self.settings.effective_database_url)

    @property
    def holder_id(self) -> str:
        """Who this object is to other processes: ``host:pid:id``."""
        return self._holder

    @cached_property
    def leases(self) -> LeaseKeeper:
        return LeaseKeeper(self.store, self._holder, self.settings.lease_seconds)

    def _record_event(
        self, kind: str, tool: str | None, op_id: str | None, data: Any, at: float
    ) -> None:
        # Shared through the database so that every process's streams carry every event.
        self.store.append_event(kind, tool, op_id, dict(data), at)

    def close(self) -> None:
        if "leases" in self.__dict__:
            self.leases.stop()
        if "store" in self.__dict__:
            self.store.close()
        for provider in self._instances.values():
            closer = getattr(provider, "close", None)
            if callable(closer):
                closer()

    def __enter__(self) -> Machete:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- providers -----------------------------------------------------------------------

    def _instance(self, kind: str, name: str) -> Any:
        with self._instances_lock:
            key = (kind, name)
            if key not in self._instances:
                record = self.plugins.provider(kind, name)
                self._instances[key] = record.factory(self.settings)
            return self._instances[key]

    def source(self, name: str) -> Source:
        return self._instance("source", name)

    def builder(self, name: str) -> Builder:
        return self._instance("builder", name)

    def runtime(self, name: str) -> Runtime:
        return self._instance("runtime", name)

    def resolve_builder(self, requested: str | None) -> str:
        """The builder to use: the requested one, else the default; ``auto`` prefers buildx."""
        name = requested or self.settings.default_builder
        if name != "auto":
            return name
        builders = self.plugins.providers("builder")
        if "buildx" in builders and self.plugins.availability("builder", "buildx") is None:
            return "buildx"
        return "docker"

    @contextmanager
    def build_slot(self, run: OperationRun) -> Iterator[None]:
        """At most ``max_concurrent_builds`` builds at once in this process; others wait."""
        if not self._build_slots.acquire(blocking=False):
            run.log.write("waiting for a free build slot")
            while not self._build_slots.acquire(timeout=0.5):
                run.cancel.raise_if_cancelled()
        try:
            yield
        finally:
            self._build_slots.release()

    def engine_data_root(self) -> Path:
        """Where the engine keeps images, when it is on this machine; else the state folder."""
        root = Path("/var/lib/docker")
        return root if root.exists() else self.settings.home

    def plugin_infos(self) -> list[PluginInfo]:
        return self.plugins.plugins()

    def plugin_report(self) -> list[dict[str, Any]]:
        """Plugins as JSON-ready data, each provider with ``available`` and the reason if not."""
        from machete_core.views import to_data

        availability = self.provider_availability()
        data: list[dict[str, Any]] = to_data(self.plugin_infos())
        for plugin in data:
            for provider in plugin["providers"]:
                reason = availability.get(provider["kind"], {}).get(provider["name"])
                provider["available"] = reason is None
                provider["unavailable_reason"] = reason
        return data

    def provider_availability(self) -> dict[str, dict[str, str | None]]:
        return {
            kind: {
                name: self.plugins.availability(kind, name) for name in self.plugins.providers(kind)
            }
            for kind in ("source", "builder", "runtime")
        }

    # -- helpers used by the pipeline ----------------------------------------------------

    def tool_data_dir(self, tool: str) -> Path:
        """Where the tool's volumes live, one directory each (``./data`` is ``data``)."""
        from machete_core.pipeline.volumes import volumes_root

        return volumes_root(self.settings, tool)

    @staticmethod
    def spec_data(spec: ToolSpec) -> dict[str, Any]:
        from machete_core.manifest.converter import converter

        return converter().unstructure(spec)

    @staticmethod
    def spec_from_data(data: dict[str, Any]) -> ToolSpec:
        from machete_core.manifest.converter import converter

        return converter().structure(data, ToolSpec)

    def instance_running(self, release: ReleaseRecord) -> bool:
        if not release.instance_id:
            return False
        try:
            return self.runtime(release.runtime).inspect(release.instance_id).state == "running"
        except MacheteError:
            return False

    @staticmethod
    def instance_problem(runtime: Runtime, instance_id: str) -> str | None:
        state = runtime.inspect(instance_id)
        if state.restart_count > 0:
            code = f" (exit code {state.exit_code})" if state.exit_code is not None else ""
            return f"it crashed and was restarted {state.restart_count} time(s){code}"
        if state.state in ("running", "created", "restarting"):
            return None
        code = f" with code {state.exit_code}" if state.exit_code is not None else ""
        return f"{state.state}{code}" + (f": {state.error}" if state.error else "")

    @staticmethod
    def instance_log_tail(runtime: Runtime, instance_id: str, lines: int) -> str:
        try:
            return "\n".join(runtime.logs(instance_id, tail=lines))
        except MacheteError:
            return ""

    @staticmethod
    def discard_instance(runtime: Runtime, instance_id: str) -> None:
        try:
            runtime.stop(instance_id, timeout=5)
        finally:
            runtime.remove(instance_id)

    # -- operations: submit --------------------------------------------------------------

    def _new_operation(
        self, kind: str, tool: ToolRecord | None, params: dict[str, Any], trigger: str
    ) -> OperationRecord:
        op_id = uuid.uuid4().hex
        if tool is not None:
            self._check_not_busy(tool.name)
        op = self.store.create_operation(
            exclusive_kinds=MUTATING if tool is not None else (),
            id=op_id,
            kind=kind,
            tool_id=tool.id if tool else None,
            tool_name=tool.name if tool else params.get("name"),
            params=params,
            holder=self._holder,
            lease_expires_at=time.time() + self.settings.lease_seconds,
            log_path=str(self.settings.logs_dir / "operations" / f"{op_id}.log"),
            trigger=trigger,
        )
        # Held (and its lease renewed) from now on, even while it waits for a worker.
        token = CancelToken()
        self._cancels[op_id] = token
        self.leases.hold(op_id, token)
        return op

    def _new_operation_waiting(
        self,
        kind: str,
        tool: ToolRecord,
        params: dict[str, Any],
        trigger: str,
        wait: float | None,
        on_wait: Callable[[OperationRecord], None] | None = None,
    ) -> OperationRecord:
        """Like :meth:`_new_operation`, but a busy tool is waited for up to ``wait`` seconds
        (``inf`` for as long as it takes) instead of refused."""
        deadline = time.monotonic() + (wait or 0.0)
        told: str | None = None
        while True:
            try:
                return self._new_operation(kind, tool, params, trigger)
            except ToolBusyError as exc:
                if not wait or time.monotonic() >= deadline:
                    raise
                other = str(exc.details.get("operation", ""))
                if on_wait is not None and other and other != told:
                    told = other
                    on_wait(self.store.get_operation(other))
                time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))

    def _check_not_busy(self, tool_name: str) -> None:
        for op in self.store.list_operations(tool_name, limit=20):
            if op.done or op.kind not in MUTATING:
                continue
            if self.holder_alive(op):
                raise ToolBusyError(
                    f"{tool_name} is busy with operation {op.id} ({op.kind}); "
                    "try again when it ends",
                    details={"operation": op.id},
                )
            # Its process is gone: end it and undo what it left half-made, then go ahead.
            self.reconciler.end_abandoned(op)

    @cached_property
    def reconciler(self) -> Reconciler:
        from machete_core.reconcile import Reconciler

        return Reconciler(self)

    def reconcile(self, *, forget_unknown: bool = False) -> ReconcileReport:
        """Match the runtime to the database and end interrupted operations (see reconcile.py).

        ``forget_unknown`` lets it remove this installation's engine objects although the
        database has never known them (otherwise that is refused: ``state_missing``)."""
        return self.reconciler.run(forget_unknown=forget_unknown)

    def holder_alive(self, op: OperationRecord) -> bool:
        """Whether the holder of unfinished ``op`` is still at work on it.

        Its lease decides; a holder that is a vanished process of this host is known dead at
        once, and this object's own operations are alive exactly while it holds them.
        """
        holder = op.holder or str(op.params.get("holder", ""))
        if holder == self._holder:
            return self.leases.held(op.id)
        if holder_process_gone(holder):
            return False
        if op.lease_expires_at is None:
            return True  # recorded before leases existed: cannot tell; assume it works
        return not lease_expired(op)

    def submit_install(
        self,
        url: str,
        *,
        name: str | None = None,
        ref: str | None = None,
        source: str = "",
        credentials: Credentials | None = None,
        trigger: str = "api",
    ) -> OperationRecord:
        if url.startswith("upload:"):
            raise InvalidInputError("upload the archive itself instead of naming an upload")
        checked = check_source_url(url, self.settings.allowed_schemes)
        record = self.plugins.source_for(checked, source)
        if name is not None:
            name = choose_name(explicit=name)
            if self.store.find_tool(name) is not None:
                raise ToolExistsError(f"a tool named {name!r} already exists")
        params = {"url": checked, "ref": ref or None, "source_kind": record.name, "name": name}
        if credentials is not None:
            params["credentials"] = self.secrets.seal_credentials(credentials)
        return self._new_operation("install", None, params, trigger)

    def submit_upload(
        self,
        stream: BinaryIO,
        *,
        tool: str | int | None = None,
        name: str | None = None,
        filename: str | None = None,
        trigger: str = "api",
    ) -> OperationRecord:
        """Store an uploaded archive (streamed, size-capped), then install or redeploy from it.

        With ``tool`` the existing tool is redeployed from the archive; otherwise a new tool is
        installed (named by ``name``, its manifest, or ``filename``).
        """
        from machete_core.sources.uploads import store_upload

        if tool is not None:
            existing = self.store.get_tool(tool)
            self._check_not_busy(existing.name)
        elif name is not None:
            name = choose_name(explicit=name)
            if self.store.find_tool(name) is not None:
                raise ToolExistsError(f"a tool named {name!r} already exists")
        locator = store_upload(self.settings, stream)
        source = self.plugins.source_for(locator).name
        if tool is not None:
            return self.submit("deploy", tool, trigger=trigger, url=locator, source_kind=source)
        params = {"url": locator, "source_kind": source, "name": name, "name_hint": filename}
        return self._new_operation("install", None, params, trigger)

    def submit(
        self,
        kind: str,
        ident: str | int,
        *,
        trigger: str = "api",
        wait: float | None = None,
        on_wait: Callable[[OperationRecord], None] | None = None,
        **params: Any,
    ) -> OperationRecord:
        """Record a deploy, build, start, stop, restart or remove of an installed tool.

        A tool busy with another operation (of any process on this state) is refused with
        :class:`ToolBusyError`, or waited for up to ``wait`` seconds; ``on_wait`` hears which
        operation is being waited for.
        """
        if kind not in MUTATING or kind == "install":
            raise ValueError(kind)
        tool = self.store.get_tool(ident)
        return self._new_operation_waiting(kind, tool, params, trigger, wait, on_wait)

    # -- operations: run -----------------------------------------------------------------

    def run(self, op_id: str, *, on_line: Callable[[str], None] | None = None) -> OperationRecord:
        """Execute a submitted operation to its end; errors end up recorded, and re-raised."""
        from machete_core.pipeline import deploy, lifecycle
        from machete_core.pipeline.run import OperationRun

        op = self.store.get_operation(op_id)
        cancel = self._cancels.get(op_id)
        if cancel is None:
            # Submitted by another object (or process) that handed it over: take it.
            cancel = CancelToken()
            self._cancels[op_id] = cancel
            self.store.update_operation(op_id, holder=self._holder)
            self.leases.hold(op_id, cancel)
        run = OperationRun(self, op, cancel, on_line)
        if op.tool_id is not None:
            run.add_secrets(self.config_secrets(op.tool_id))
        handlers: dict[str, Callable[[OperationRun], dict[str, Any]]] = {
            "install": deploy.run_deploy,
            "deploy": deploy.run_deploy,
            "build": lambda r: deploy.run_deploy(r, build_only=True),
            "start": lifecycle.run_start,
            "stop": lifecycle.run_stop,
            "restart": lifecycle.run_restart,
            "remove": lifecycle.run_remove,
            "rollback": deploy.run_rollback,
            "scale": lifecycle.run_scale,
        }
        self.store.update_operation(op_id, status=OperationStatus.RUNNING, started_at=time.time())
        self.events.publish(
            "operation.started", tool=op.tool_name, operation_id=op_id, kind=op.kind
        )
        error: MacheteError | None = None
        try:
            handlers[op.kind](run)
        except MacheteError as exc:
            error = exc
            exc.message = run.redact(exc.message)
            run.log.write(f"error [{exc.code}]: {exc.message}")
            status = (
                OperationStatus.CANCELLED if exc.code == "cancelled" else OperationStatus.FAILED
            )
            finished = self.store.finish_operation(
                op_id,
                self._holder,
                status=status,
                error_code=exc.code,
                error_message=exc.message,
                finished_at=time.time(),
            )
        except Exception as exc:
            # A bug or an unexpected provider failure: recorded with its traceback in the
            # operation log, reported to the user as an internal error, never lost.
            for line in traceback.format_exc().splitlines():
                run.log.write(line)
            error = InternalError(run.redact(f"internal error: {type(exc).__name__}: {exc}"))
            finished = self.store.finish_operation(
                op_id,
                self._holder,
                status=OperationStatus.FAILED,
                error_code="internal_error",
                error_message=error.message,
                finished_at=time.time(),
            )
        else:
            run.log.write(f"{op.kind} succeeded")
            finished = self.store.finish_operation(
                op_id, self._holder, status=OperationStatus.SUCCEEDED, finished_at=time.time()
            )
        finally:
            run.log.close()
            self._cancels.pop(op_id, None)
            self.leases.release(op_id)
            if run.tool_name:
                # What was observed of the tool's instances may have changed: observe afresh.
                self.observed.forget_tool(run.tool_name)
        if not finished:
            log.warning(
                "operation %s was ended by another process meanwhile; kept its verdict", op_id
            )
        final = self.store.get_operation(op_id)
        self.events.publish(
            "operation.finished", tool=final.tool_name, operation_id=op_id, status=final.status
        )
        if error is not None:
            raise error
        return final

    def cancel(self, op_id: str) -> bool:
        """Ask an unfinished operation to stop, whichever process runs it.

        Here it stops at once; elsewhere its holder sees the request at its next heartbeat
        (about a second). An operation whose holder died is ended and undone now. False
        when the operation had already ended.
        """
        token = self._cancels.get(op_id)
        if token is not None:
            token.cancel()
            return True
        op = self.store.get_operation(op_id)
        if op.done:
            return False
        if not self.holder_alive(op):
            self.reconciler.end_abandoned(op)
            return True
        return self.store.request_cancel(op_id)

    # -- operations: one call ------------------------------------------------------------

    def install(
        self,
        url: str,
        *,
        name: str | None = None,
        ref: str | None = None,
        credentials: Credentials | None = None,
        on_line: Callable[[str], None] | None = None,
        trigger: str = "python",
    ) -> OperationRecord:
        op = self.submit_install(url, name=name, ref=ref, credentials=credentials, trigger=trigger)
        return self.run(op.id, on_line=on_line)

    def deploy(self, ident: str | int, *, force: bool = False, **kw: Any) -> OperationRecord:
        return self._do("deploy", ident, force=force, **kw)

    def build(self, ident: str | int, **kw: Any) -> OperationRecord:
        return self._do("build", ident, **kw)

    def start(self, ident: str | int, **kw: Any) -> OperationRecord:
        return self._do("start", ident, **kw)

    def stop(self, ident: str | int, **kw: Any) -> OperationRecord:
        return self._do("stop", ident, **kw)

    def restart(self, ident: str | int, **kw: Any) -> OperationRecord:
        return self._do("restart", ident, **kw)

    def rollback(self, ident: str | int, release: int | None = None, **kw: Any) -> OperationRecord:
        """Redeploy a retained release (default: the one before the live one), no rebuild."""
        return self._do("rollback", ident, release=release, **kw)

    def scale(self, ident: str | int, replicas: int, **kw: Any) -> OperationRecord:
        """Run ``replicas`` copies of the live release (runtimes that can, e.g. ``swarm``)."""
        return self._do("scale", ident, replicas=check_replicas(replicas), **kw)

    def remove(self, ident: str | int, *, purge: bool = False, **kw: Any) -> OperationRecord:
        return self._do("remove", ident, purge=purge, **kw)

    def _do(
        self,
        kind: str,
        ident: str | int,
        *,
        on_line: Callable[[str], None] | None = None,
        trigger: str = "python",
        **params: Any,
    ) -> OperationRecord:
        op = self.submit(kind, ident, trigger=trigger, **params)
        return self.run(op.id, on_line=on_line)

    # -- reading -------------------------------------------------------------------------

    def list_tools(self) -> list[ToolView]:
        from machete_core.observe import list_views

        return list_views(self)

    def get(self, ident: str | int, *, probe_health: bool = True) -> ToolView:
        from machete_core.observe import one_view

        return one_view(self, self.store.get_tool(ident), probe_health=probe_health)

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
        tool = self.store.get_tool(ident)
        fields: dict[str, Any] = {}
        if builder is not None:
            if builder and builder != "auto" and builder not in self.plugins.providers("builder"):
                known = ", ".join(sorted(self.plugins.providers("builder")))
                raise InvalidInputError(f"no builder named {builder!r} (available: auto, {known})")
            fields["builder"] = builder or None
        if enabled is not None:
            fields["enabled"] = enabled
        if auto_start is not None:
            fields["auto_start"] = auto_start
        if fields:
            tool = self.store.update_tool(tool.id, **fields)
        from machete_core.observe import one_view

        return one_view(self, tool, probe_health=False)

    def route(self, ident: str | int) -> Route:
        """Where requests for the tool go now: its live release's endpoint."""
        tool = self.store.get_tool(ident)
        release = (
            self.store.get_release(tool.current_release_id) if tool.current_release_id else None
        )
        if release is None or not release.instance_id or tool.status == ToolStatus.STOPPED:
            raise ToolUnavailableError(f"{tool.name} is not running")
        spec = self.spec_from_data(release.spec)
        try:
            endpoint = self.runtime(release.runtime).endpoint(release.instance_id, spec.port)
        except NotRunningError:
            # Its container vanished (or exited): unavailable for now, as documented.
            raise ToolUnavailableError(f"{tool.name} is not running") from None
        return Route(
            tool=tool.name,
            release=release.number,
            endpoint=endpoint,
            strip_prefix=spec.strip_prefix,
            read_timeout=spec.proxy_timeout,
        )

    def health(self, ident: str | int) -> Probe:
        """Probe the tool's health endpoint once, now."""
        tool = self.store.get_tool(ident)
        release = (
            self.store.get_release(tool.current_release_id) if tool.current_release_id else None
        )
        if release is None or not release.instance_id:
            return Probe(healthy=False, error="not deployed")
        spec = self.spec_from_data(release.spec)
        try:
            endpoint = self.runtime(release.runtime).endpoint(release.instance_id, spec.port)
        except MacheteError as exc:
            return Probe(healthy=False, error=exc.message)
        return probe(endpoint, spec.health_check)

    # -- configuration -------------------------------------------------------------------

    def config(self, ident: str | int) -> list[ConfigView]:
        """The tool's configuration; secret values are shown as ``***``."""
        tool = self.store.get_tool(ident)
        return [
            ConfigView(key=c.key, value="***" if c.secret else c.value, secret=c.secret)
            for c in self.store.config(tool.id)
        ]

    def change_config(
        self,
        ident: str | int,
        values: dict[str, str] | None = None,
        *,
        secret: bool = False,
        unset: tuple[str, ...] = (),
        trigger: str = "api",
    ) -> OperationRecord | None:
        """Store a configuration change; a deployed tool gets a new release through the gate.

        Returns the deploy operation to run (None when the tool has never been deployed).
        """
        values = values or {}
        for key in [*values, *unset]:
            if not ENV_KEY.match(key):
                raise InvalidInputError(
                    f"{key!r} is not a valid variable name "
                    "(letters, digits and '_', not starting with a digit)"
                )
        for key, value in values.items():
            if not isinstance(value, str) or "\0" in value:
                raise InvalidInputError(
                    f"the value of {key!r} contains a NUL character, which no environment "
                    "variable can hold"
                )
            if len(value) > 128 * 1024:
                raise InvalidInputError(f"the value of {key!r} is longer than 128 KiB")
        if not values and not unset:
            raise InvalidInputError("nothing to change: give KEY=VALUE pairs or keys to unset")
        tool = self.store.get_tool(ident)
        self._check_not_busy(tool.name)
        sealed = {
            k: (self.secrets.seal({"value": v}) if secret else v, secret) for k, v in values.items()
        }
        self.store.change_config(tool.id, sealed, list(unset))
        self.events.publish("tool.configured", tool=tool.name, keys=sorted([*values, *unset]))
        if tool.current_release_id is None:
            return None
        return self.submit("deploy", tool.name, trigger=trigger)

    def config_environment(self, tool: ToolRecord) -> dict[str, str]:
        """Configuration as the instance's environment (secrets opened only here, at run time)."""
        return {
            c.key: str(self.secrets.open(c.value)["value"]) if c.secret else c.value
            for c in self.store.config(tool.id)
        }

    def config_secrets(self, tool_id: int) -> tuple[str, ...]:
        return tuple(
            str(self.secrets.open(c.value)["value"]) for c in self.store.config(tool_id) if c.secret
        )

    # -- health monitor --------------------------------------------------------------------

    def health_targets(self) -> list[HealthTarget]:
        """What the monitor probes: every tool whose live release should be running."""
        targets = []
        for tool, release in self.store.tools_with_current_release(ToolStatus.RUNNING):
            if not release.instance_id:
                continue
            spec = self.spec_from_data(release.spec)
            try:
                endpoint = self.runtime(release.runtime).endpoint(release.instance_id, spec.port)
            except MacheteError as exc:
                targets.append(
                    HealthTarget(tool.id, tool.name, None, spec.health_check, exc.message)
                )
                continue
            targets.append(HealthTarget(tool.id, tool.name, endpoint.base_url, spec.health_check))
        return targets

    def record_health(self, target: HealthTarget, healthy: bool, detail: str | None) -> bool:
        """Keep a probe's result; a change of health is stored and published. True if changed."""
        health = "healthy" if healthy else "unhealthy"
        last = self._last_health.get(target.tool_id)
        if last is None:
            history = self.store.health_history(target.tool_id, limit=1)
            last = history[0].health if history else None
        self._last_health[target.tool_id] = health
        if last == health:
            return False
        self.store.record_health(target.tool_id, health, detail)
        self.events.publish("tool.health", tool=target.tool, health=health, detail=detail)
        return True

    def forget_health_cache(self) -> None:
        """Read each tool's last health from the database again (another process may have
        recorded changes meanwhile)."""
        self._last_health.clear()

    def health_history(self, ident: str | int, limit: int = 100) -> list[HealthEventRecord]:
        return self.store.health_history(self.store.get_tool(ident).id, limit)

    def releases(self, ident: str | int) -> list[ReleaseRecord]:
        return self.store.list_releases(self.store.get_tool(ident).id)

    def logs(
        self, ident: str | int, *, tail: int | None = 100, follow: bool = False
    ) -> Iterator[str]:
        tool = self.store.get_tool(ident)
        release = (
            self.store.get_release(tool.current_release_id) if tool.current_release_id else None
        )
        if release is None or not release.instance_id:
            return iter(())
        lines = self.runtime(release.runtime).logs(release.instance_id, tail=tail, follow=follow)
        secrets = tuple(sorted(self.config_secrets(tool.id), key=len, reverse=True))
        if not secrets:
            return lines
        # A tool that prints its environment must not show its secrets to whoever reads logs.
        return (redact(line, secrets) for line in lines)

    def operations(self, ident: str | int | None = None, limit: int = 50) -> list[OperationRecord]:
        name = self.store.get_tool(ident).name if ident is not None else None
        return self.store.list_operations(name, limit=limit)

    def operation(self, op_id: str) -> OperationRecord:
        return self.store.get_operation(op_id)

    def operation_log(self, op_id: str, offset: int = 0) -> tuple[str, int]:
        op = self.store.get_operation(op_id)
        return read_log(Path(op.log_path), offset)

    def follow_operation(self, op_id: str, offset: int = 0, *, poll: float = 0.2) -> Iterator[str]:
        """An operation's log from ``offset``, line by line, live until the operation ends
        (whichever process runs it)."""
        pending = ""
        while True:
            done = self.store.get_operation(op_id).done
            text, offset = self.operation_log(op_id, offset)
            pending += text
            *lines, pending = pending.split("\n")
            yield from lines
            if done and not text:
                if pending:
                    yield pending
                return
            if not text:
                time.sleep(poll)

    def events_log(
        self,
        *,
        last: int = 20,
        tool: str | None = None,
        follow: bool = False,
        poll: float = 0.3,
    ) -> Iterator[EventRecord]:
        """The ``last`` recorded lifecycle events (of every process on this state), then, with
        ``follow``, new ones as they are recorded."""
        recent = self.store.recent_events(last, tool=tool) if last > 0 else []
        yield from recent
        if not follow:
            return
        after = recent[-1].id if recent else self.store.last_event_id()
        while True:
            batch = self.store.events_after(after)
            for event in batch:
                after = event.id
                if tool is None or event.tool == tool:
                    yield event
            if not batch:
                time.sleep(poll)


__all__ = ["Machete", "ReleaseStatus", "create_machete"]
