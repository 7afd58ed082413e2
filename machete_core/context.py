"""The :class:`Core`: what the pipeline, the reconciler and the read side work with.

One per :class:`~machete_core.machete.Machete` (never global): settings, the plugin manager, the
store, the event bus, secrets, leases, this process's holder id and live cancel tokens, what was
observed of instances, and typed accessors for providers, each behind the plugin error boundary.
It imports nothing of the pipeline, so everything below the facade can take a ``Core`` without an
import circle.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any, cast

from machete_core.access.service import Access
from machete_core.domain.records import CancelToken, Event
from machete_core.events import EventBus
from machete_core.leases import LeaseKeeper, holder_process_gone, lease_expired, new_holder
from machete_core.notify.outbox import Notifier
from machete_core.observed import ObservedState
from machete_core.plugins.boundary import Guarded, guarded_call
from machete_core.plugins.manager import PluginManager
from machete_core.plugins.protocols import Builder, Closeable, Ingress, Runtime, Source
from machete_core.secrets import Credentials, SecretBox
from machete_core.settings import Settings
from machete_core.state.store import Store
from machete_core.state.views import OperationRecord, ToolRecord

log = logging.getLogger(__name__)


class Core:
    def __init__(self, settings: Settings, plugins: PluginManager) -> None:
        self.settings = settings
        self.plugins = plugins
        #: What the runtimes last said about live instances (see observe.py).
        self.observed = ObservedState()
        self.events = EventBus(plugins.emit, record=self._record_event)
        #: Cancel tokens of the operations this object holds, by operation id.
        self.cancels: dict[str, CancelToken] = {}
        #: Who this object is to other processes: ``host:pid:id``.
        self.holder_id = new_holder()
        #: The last health recorded per tool id (the monitor stores changes only).
        self.last_health: dict[int, str] = {}
        #: Failed health checks in a row per tool id (reported unhealthy at the setting's count).
        self.health_failures: dict[int, int] = {}
        self._providers: dict[tuple[str, str], Any] = {}
        self._providers_lock = threading.Lock()
        self._build_slots = threading.BoundedSemaphore(max(1, settings.max_concurrent_builds))

    @cached_property
    def secrets(self) -> SecretBox:
        return SecretBox.for_home(self.settings.home)

    @cached_property
    def store(self) -> Store:
        self.settings.home.mkdir(parents=True, exist_ok=True)
        return Store.open(self.settings.effective_database_url)

    @cached_property
    def access(self) -> Access:
        """Who may do what: the authorizer, the authenticator and the audit log."""
        return Access(self.store, self.settings, lambda: self.secrets, self.plugins, self.events)

    @cached_property
    def leases(self) -> LeaseKeeper:
        return LeaseKeeper(self.store, self.holder_id, self.settings.lease_seconds)

    @cached_property
    def notifier(self) -> Notifier:
        return Notifier(self)

    def _record_event(self, event: Event) -> None:
        # Shared through the database so that every process's streams carry every event;
        # the notifications it causes are written in the same transaction (the outbox).
        try:
            notifications = self.notifier.outbox_for(event)
        except Exception:  # the event is kept even when telling about it cannot be worked out
            log.exception("working out the notifications of %s failed", event.kind)
            notifications = []
        self.store.append_event(event, notifications)

    def close(self) -> None:
        if "leases" in self.__dict__:
            self.leases.stop()
        if "store" in self.__dict__:
            self.store.close()
        # An operation still running in another thread may build a provider meanwhile.
        with self._providers_lock:
            providers = list(self._providers.values())
        for provider in providers:
            if isinstance(provider, Closeable):
                provider.close()

    # -- providers (each call inside the plugin error boundary) ---------------------------

    def provider(self, kind: str, name: str) -> Any:
        with self._providers_lock:
            key = (kind, name)
            if key not in self._providers:
                record = self.plugins.provider(kind, name)
                culprit = self.plugins.culprit(kind, name)
                built = guarded_call(culprit, "its factory", record.factory, self.settings)
                self._providers[key] = Guarded(built, culprit)
            return self._providers[key]

    def source(self, name: str) -> Source:
        return cast(Source, self.provider("source", name))

    def builder(self, name: str) -> Builder:
        return cast(Builder, self.provider("builder", name))

    def runtime(self, name: str) -> Runtime:
        return cast(Runtime, self.provider("runtime", name))

    def ingress(self) -> Ingress:
        """The installation's ingress (the ``ingress`` setting)."""
        return cast(Ingress, self.provider("ingress", self.settings.ingress))

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
    def build_slot(self, cancel: CancelToken, say: Callable[[str], None]) -> Iterator[None]:
        """At most ``max_concurrent_builds`` builds at once in this process; others wait."""
        if not self._build_slots.acquire(blocking=False):
            say("waiting for a free build slot")
            while not self._build_slots.acquire(timeout=0.5):
                cancel.raise_if_cancelled()
        try:
            yield
        finally:
            self._build_slots.release()

    # -- holders -------------------------------------------------------------------------

    def holder_alive(self, op: OperationRecord) -> bool:
        """Whether the holder of unfinished ``op`` is still at work on it.

        Its lease decides; a holder that is a vanished process of this host is known dead at
        once, and this object's own operations are alive exactly while it holds them.
        """
        holder = op.holder or str(op.params.get("holder", ""))
        if holder == self.holder_id:
            return self.leases.held(op.id)
        if holder_process_gone(holder):
            return False
        if op.lease_expires_at is None:
            return True  # recorded before leases existed: cannot tell; assume it works
        return not lease_expired(op)

    def tool_busy(self, tool_name: str) -> bool:
        """Whether an operation of the tool is under way now, in any process."""
        return any(
            not op.done and self.holder_alive(op)
            for op in self.store.list_operations(tool_name, limit=5)
        )

    # -- secrets -------------------------------------------------------------------------

    def source_credentials(self, sealed: str | None) -> Credentials | None:
        return self.secrets.open_credentials(sealed) if sealed else None

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
