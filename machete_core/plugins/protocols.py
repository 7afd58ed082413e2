"""What providers must do. Plugins implement these; the core only calls these methods."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
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
from machete_core.domain.routes import PublishedRoute, RouteSet


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


@runtime_checkable
class Ingress(Protocol):
    """Where requests for tools come in: publishes each tool's routes to its upstreams.

    Only routes the ingress tagged as this installation's are ever listed, replaced or
    removed; anything else it serves (an operator's own sites) is left alone.
    """

    def publish(self, route: RouteSet) -> None:
        """Serve ``route`` for its tool, replacing what was served for it, atomically: a
        request is answered by the old route or the new one, never by neither."""

    def withdraw(self, tool: str) -> None:
        """Stop serving ``tool``; a tool with no route is not an error."""

    def published(self) -> list[PublishedRoute]:
        """The routes this installation has published (for the reconciler)."""

    def drain(self, tool: str, upstreams: Sequence[Endpoint], seconds: float) -> None:
        """Return when no request is in flight to ``upstreams`` any more (they were just
        replaced), or after ``seconds`` at most."""

    def health(self) -> str | None:
        """None when the ingress serves, else why it does not."""


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
class AddressesOnNetwork(Protocol):
    """Optional runtime capability: where this host reaches an instance on its own network,
    without the engine's port proxy in between (one hop fewer for every proxied request)."""

    def network_endpoint(self, instance_id: str, port: int) -> Endpoint | None:
        """The instance's address and ``port`` on its network; None when this host cannot
        reach it there (a remote engine): the ingress then uses ``endpoint``."""


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


@runtime_checkable
class SupervisedIngress(Protocol):
    """Optional ingress capability: a data plane the server runs as its child (started with
    the server, stopped with it, restarted when it dies)."""

    def start(self, on_restart: Callable[[], None]) -> None:
        """Start the data plane and watch it; ``on_restart`` is called (on another thread)
        each time it had to be started again, so the routes can be published again."""

    def stop(self) -> None: ...


@runtime_checkable
class ServesFromState(Protocol):
    """Optional ingress capability: it reads each tool's route from the database when a
    request comes (the built-in proxy), so the reconciler has nothing to compare or publish."""

    def serves_from_state(self) -> None: ...


@runtime_checkable
class IssuesCertificates(Protocol):
    """Optional ingress capability: a certificate authority of its own for internal names."""

    def root_certificate(self) -> str | None:
        """The internal CA's root certificate (PEM), once it exists."""
