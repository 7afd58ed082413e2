"""What providers must do. Plugins implement these; the core only calls these methods."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

from machete_core.domain.records import (
    BuildRequest,
    Endpoint,
    Image,
    Instance,
    InstanceState,
    Locator,
    LogSink,
    Revision,
    RunPlan,
)


@runtime_checkable
class Source(Protocol):
    def resolve(self, locator: Locator) -> str | None:
        """Return the cheap current revision (e.g. the remote commit), or None if unknown."""

    def fetch(self, locator: Locator, dest: Path, log: LogSink) -> Revision:
        """Write the tool's tree into the empty directory ``dest``; return what was fetched."""


@runtime_checkable
class Builder(Protocol):
    def build(self, request: BuildRequest, log: LogSink) -> Image:
        """Build ``request.context``; stream output lines to ``log``; honour cancel and timeout.

        Raise :class:`~machete_core.errors.BuildError` with the last output lines on failure.
        """

    def remove_image(self, image: str) -> None:
        """Remove an image this builder produced; a missing image is not an error."""

    def image_exists(self, image: str) -> bool:
        """Whether an image this builder produced is still there to run."""


@runtime_checkable
class InspectsImages(Protocol):
    """Optional builder capability: read an image's labels, to vet base images before a build."""

    def image_labels(self, image: str) -> dict[str, str] | None:
        """The labels of the image ``image`` resolves to here, or None if there is none."""


@runtime_checkable
class WatchesInstances(Protocol):
    """Optional runtime capability: the engine's own event stream, so observed state stays
    current without asking the engine per request."""

    def watch(self, selector: Mapping[str, str], stop: threading.Event) -> Iterator[str]:
        """Ids of instances matching ``selector`` as they change (start, exit, restart,
        removal), until ``stop`` is set; raises when the stream breaks (callers retry)."""


@runtime_checkable
class Runtime(Protocol):
    def start(self, plan: RunPlan) -> Instance:
        """Create and start an instance; the plan's labels mark it as MACHETE's."""

    def stop(self, instance_id: str, timeout: float = 10.0) -> None: ...

    def resume(self, instance_id: str) -> None:
        """Start a stopped instance again."""

    def remove(self, instance_id: str) -> None:
        """Remove the instance; a missing one is not an error."""

    def inspect(self, instance_id: str) -> InstanceState: ...

    def list(self, selector: Mapping[str, str]) -> list[InstanceState]:
        """Instances whose labels include every pair of ``selector``."""

    def logs(
        self, instance_id: str, *, tail: int | None = None, follow: bool = False
    ) -> Iterator[str]:
        """The instance's output, line by line; with ``follow`` it blocks for new lines."""

    def endpoint(self, instance_id: str, port: int) -> Endpoint:
        """Where the platform reaches the instance's ``port``."""

    def cleanup(self, selector: Mapping[str, str]) -> None:
        """Remove what the runtime made for a tool besides instances (networks, ...)."""


# -- optional capabilities -------------------------------------------------------------------
# A provider has one when it has the methods; the core asks with ``isinstance`` (never
# ``getattr``), and ``machete plugins`` lists the ones each provider has.


@runtime_checkable
class ReplicatedRuntime(Protocol):
    """Optional runtime capability: several replicas per release (e.g. ``swarm``)."""

    def scale(self, instance_id: str, replicas: int) -> None:
        """Run ``replicas`` copies of the instance (a rolling update)."""

    def rollback(self, instance_id: str) -> bool:
        """Return the instance to its previous spec; False when there is none."""

    def endpoints(self, instance_id: str, port: int) -> list[Endpoint]:
        """Where the platform reaches ``port`` of each running replica."""


@runtime_checkable
class ReportsListeningPorts(Protocol):
    """Optional runtime capability: which TCP ports an instance listens on, so the health
    gate can say "the tool listens on 8501, not 8080" at once instead of timing out."""

    def listening_ports(self, instance_id: str) -> set[int] | None:
        """The ports, or None when they cannot be read (e.g. a remote engine)."""


@runtime_checkable
class KnowsImageUsers(Protocol):
    """Optional runtime capability: the user an image runs as, so the tool's data
    directories can belong to it (a non-root ``USER`` must be able to write ``/data``)."""

    def image_user(self, image: str) -> tuple[int, int] | None:
        """``(uid, gid)`` of the image's ``USER``; None for root or when it cannot be told."""


@runtime_checkable
class ResolvesImageDigests(Protocol):
    """Optional builder capability: a tag as ``repository@sha256:...`` (from a local copy,
    else from its registry), so an allowed ``# syntax=`` frontend is pinned for the build."""

    def image_digest(self, reference: str) -> str:
        """The pinned reference; raises ``BuildError`` saying why when it cannot be had."""


@runtime_checkable
class ListsImages(Protocol):
    """Optional builder capability: list the images it made, so the reconciler can remove
    images no release records (built by a process that died before writing it down)."""

    def list_images(self, selector: Mapping[str, str]) -> list[Image]:
        """Images whose labels include every pair of ``selector``."""


@runtime_checkable
class Closeable(Protocol):
    """Optional capability of any provider: release connections when MACHETE closes."""

    def close(self) -> None: ...
