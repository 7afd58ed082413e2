"""Records that cross the plugin boundary: what sources, builders and runtimes take and return."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from machete_core.domain.operations import Actor
from machete_core.errors import CancelledError
from machete_core.secrets import Credentials

#: Where providers write their progress, one line per call, as it happens.
LogSink = Callable[[str], None]


@attrs.frozen
class Locator:
    """Where a tool's source lives: a URL (or allowed local path) and an optional ref."""

    url: str
    ref: str | None = None
    #: Name of the source provider; empty means "choose by URL".
    kind: str = ""
    #: Given separately from the URL; never part of repr, logs or stored URLs.
    credentials: Credentials | None = attrs.field(default=None, repr=False, eq=False)
    #: The operation's cancel token: sources that work long (unpacking) stop when it is set.
    cancel: CancelToken | None = attrs.field(default=None, repr=False, eq=False)


@attrs.frozen
class Revision:
    """What a fetch produced: a content digest of the tree, and the commit when there is one."""

    digest: str
    commit: str | None = None
    ref: str | None = None


class CancelToken:
    """Set from any thread; long-running providers check it and stop early."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._callbacks: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def cancel(self) -> None:
        with self._lock:
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for cb in callbacks:
            cb()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` when cancelled (at once if already cancelled)."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return
        callback()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise CancelledError("the operation was cancelled")


@attrs.frozen
class BuildRequest:
    tool: str
    context: Path
    dockerfile: str
    tags: tuple[str, ...]
    labels: Mapping[str, str]
    timeout: float
    build_args: Mapping[str, str] = attrs.field(factory=dict)
    cancel: CancelToken = attrs.field(factory=CancelToken, eq=False)
    #: The stage to build (``--target``); None builds the last one.
    target: str | None = None
    #: Files offered to the build as BuildKit secrets, by id (never part of any layer).
    secrets: Mapping[str, Path] = attrs.field(factory=dict)


@attrs.frozen
class Image:
    id: str
    tags: tuple[str, ...] = ()
    labels: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen
class Mount:
    """A host directory mounted into an instance; ``source`` is an absolute host path."""

    source: str
    target: str
    read_only: bool = False


@attrs.frozen
class RunPlan:
    """Everything a runtime needs to start one instance of a release."""

    tool: str
    release: int
    name: str
    image: str
    port: int
    environment: Mapping[str, str]
    mounts: tuple[Mount, ...]
    labels: Mapping[str, str]
    #: Hardening and limits (DESIGN §5): applied by every runtime, read back where it can.
    memory_bytes: int = 1024**3
    nano_cpus: int = 1_000_000_000
    pids_limit: int = 512
    read_only_root: bool = False
    cap_add: tuple[str, ...] = ()
    #: One network per tool, so tools cannot reach each other.
    network: str | None = None
    #: Networks of other tools this one declared it connects to.
    extra_networks: tuple[str, ...] = ()
    #: Copies to run (a runtime that runs one refuses more than one).
    replicas: int = 1


@attrs.frozen
class Instance:
    id: str
    name: str


@attrs.frozen
class InstanceState:
    """What the runtime observes about one instance."""

    id: str
    name: str
    #: ``running``, ``stopped``, ``restarting``, ``created``, ``missing`` or ``unknown``.
    state: str
    labels: Mapping[str, str] = attrs.field(factory=dict)
    exit_code: int | None = None
    error: str | None = None
    started_at: str | None = None
    restart_count: int = 0


@attrs.frozen
class Endpoint:
    """Where an instance's HTTP port can be reached from the platform."""

    host: str
    port: int

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


@attrs.frozen
class Event:
    """A lifecycle event for observers (``machete_on_event``) and the hosts' event streams."""

    kind: str
    tool: str | None = None
    operation_id: str | None = None
    data: Mapping[str, Any] = attrs.field(factory=dict)
    at: float = 0.0
    #: Who caused it (None only for events of plugins' own making).
    actor: Actor | None = None
