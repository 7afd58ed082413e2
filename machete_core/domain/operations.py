"""Operations as data: the one list of kinds, a frozen params record per kind, the steps each
kind may run, and the :class:`Actor` every operation and event names.

A new operation kind is a member of :class:`OperationKind`, a params record in :data:`PARAMS`,
its steps in :data:`STEPS`, and a handler in ``pipeline/handlers.py``.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

from machete_core.domain.spec import ToolOverrides


class OperationKind(enum.StrEnum):
    INSTALL = "install"
    DEPLOY = "deploy"
    BUILD = "build"
    START = "start"
    STOP = "stop"
    RESTART = "restart"
    REMOVE = "remove"
    ROLLBACK = "rollback"
    SCALE = "scale"

    @property
    def builds(self) -> bool:
        """Whether operations of this kind may build an image (listings show them as building)."""
        return self in BUILDING_KINDS


BUILDING_KINDS = frozenset({OperationKind.INSTALL, OperationKind.DEPLOY, OperationKind.BUILD})


class ActorKind(enum.StrEnum):
    USER = "user"
    TOKEN = "token"
    WEBHOOK = "webhook"
    #: MACHETE itself: the reconciler, the health monitor, the server acting on its own.
    SYSTEM = "system"
    #: The host's own CLI or Python program working directly on the state directory.
    LOCAL = "local"


@attrs.frozen
class Actor:
    """Who asked: recorded on every operation and event."""

    kind: ActorKind = attrs.field(converter=ActorKind)
    id: str
    name: str

    def describe(self) -> str:
        return f"{self.kind.value}:{self.name}"


#: The local CLI (``machete`` on the state directory).
LOCAL_CLI = Actor(ActorKind.LOCAL, "cli", "machete CLI")
#: A Python program using ``machete_core`` directly.
LOCAL_PYTHON = Actor(ActorKind.LOCAL, "python", "Python API")
#: Requests to the HTTP API before people and tokens exist: the server acts for them.
SYSTEM_API = Actor(ActorKind.SYSTEM, "api", "HTTP API")
#: The reconciler and the health monitor.
SYSTEM = Actor(ActorKind.SYSTEM, "machete", "MACHETE")


@attrs.frozen
class InstallParams:
    url: str
    source_kind: str
    ref: str | None = None
    #: The name asked for; None lets the manifest or the source choose.
    name: str | None = None
    #: An uploaded archive's file name, to name the tool when nothing else does.
    name_hint: str | None = None
    #: Source credentials, sealed with the installation's key.
    credentials: str | None = attrs.field(default=None, repr=False)
    #: What the operator set (``--port``...), stored with the tool.
    overrides: ToolOverrides = attrs.field(factory=ToolOverrides)


@attrs.frozen
class DeployParams:
    force: bool = False
    #: A new source for this deploy (an uploaded archive); kept by the tool once live.
    url: str | None = None
    source_kind: str | None = None


@attrs.frozen
class BuildParams:
    force: bool = False


@attrs.frozen
class NoParams:
    """Start, stop and restart take nothing."""


@attrs.frozen
class RemoveParams:
    purge: bool = False


@attrs.frozen
class RollbackParams:
    #: The release number to return to; None is the one before the live one.
    release: int | None = None


@attrs.frozen
class ScaleParams:
    replicas: int


OperationParams = (
    InstallParams
    | DeployParams
    | BuildParams
    | NoParams
    | RemoveParams
    | RollbackParams
    | ScaleParams
)

PARAMS: dict[OperationKind, type[Any]] = {
    OperationKind.INSTALL: InstallParams,
    OperationKind.DEPLOY: DeployParams,
    OperationKind.BUILD: BuildParams,
    OperationKind.START: NoParams,
    OperationKind.STOP: NoParams,
    OperationKind.RESTART: NoParams,
    OperationKind.REMOVE: RemoveParams,
    OperationKind.ROLLBACK: RollbackParams,
    OperationKind.SCALE: ScaleParams,
}


_DEPLOY_STEPS = (
    "resolve",
    "fetch",
    "manifest",
    "build",
    "start",
    "health",
    "promote",
    "route",
    "retire",
)

#: The steps each kind may run, in order. A run may skip some (a no-op deploy stops after
#: ``resolve``); it never runs one that is not declared here.
STEPS: dict[OperationKind, tuple[str, ...]] = {
    OperationKind.INSTALL: ("fetch", "manifest", "build", "start", "health", "promote", "route"),
    OperationKind.DEPLOY: _DEPLOY_STEPS,
    OperationKind.BUILD: ("fetch", "manifest", "build"),
    OperationKind.START: ("start", "health", "route"),
    OperationKind.STOP: ("stop",),
    OperationKind.RESTART: ("stop", "start", "health", "route"),
    OperationKind.REMOVE: ("route", "remove-instances", "remove-images", "purge-data"),
    OperationKind.ROLLBACK: ("choose", "start", "health", "promote", "route", "retire"),
    OperationKind.SCALE: ("scale", "health", "route"),
}


#: How a run's log marks the start of a step (``==> build``); followers put the step's report
#: in its place.
STEP_MARKER = "==> "


class StepState(enum.StrEnum):
    STARTED = "started"
    DONE = "done"
    FAILED = "failed"


@attrs.frozen
class StepProgress:
    """What a run tells its listeners at each step's start and end (the CLI's progress, the
    dashboard's and the event stream's ``step.started``/``step.finished``)."""

    operation_id: str
    kind: OperationKind
    step: str
    #: The step's place among the kind's declared steps (1-based); never above ``total``.
    index: int
    total: int
    state: StepState
    seconds: float | None = None
    detail: str | None = None
