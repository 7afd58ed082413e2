"""The contract between the commands and where the work happens. Every answer is JSON data,
shaped as the HTTP API's documents (without their envelope): a command renders it as text or
prints it with ``--json``, and cannot tell the modes apart."""

from __future__ import annotations

import abc
from collections.abc import Iterator
from typing import Any, BinaryIO, Protocol

Data = dict[str, Any]


class Progress(Protocol):
    """Where a running operation's progress goes (``render.ProgressPrinter``)."""

    def step(self, index: int, total: int, name: str) -> None: ...

    def line(self, line: str) -> None: ...


class Backend(abc.ABC):
    def close(self) -> None:  # noqa: B027 - most backends hold nothing
        """Release what the backend holds (connections, the store)."""

    # -- tools -----------------------------------------------------------------------------

    @abc.abstractmethod
    def tools(self) -> list[Data]: ...

    @abc.abstractmethod
    def tool(self, name: str) -> Data:
        """The tool's view, its health probed now."""

    @abc.abstractmethod
    def health(self, name: str) -> Data:
        """``{"healthy", "error", "history": [...]}``: a probe now and the recorded changes."""

    @abc.abstractmethod
    def logs(self, name: str, tail: int) -> list[str]: ...

    @abc.abstractmethod
    def follow_logs(self, name: str, tail: int) -> Iterator[str]: ...

    @abc.abstractmethod
    def releases(self, name: str) -> list[Data]: ...

    @abc.abstractmethod
    def config(self, name: str) -> list[Data]: ...

    @abc.abstractmethod
    def change_config(
        self, name: str, values: dict[str, str], secret: bool, unset: tuple[str, ...]
    ) -> Data | None:
        """The deploy operation that applies the change, or None (never deployed: saved)."""

    @abc.abstractmethod
    def set_tool(
        self,
        name: str,
        overrides: Data,
        clear: tuple[str, ...],
        enabled: bool | None,
        auto_start: bool | None,
        builder: str | None,
    ) -> Data:
        """Change a tool's settings; the tool's view (not probed)."""

    # -- operations ------------------------------------------------------------------------

    @abc.abstractmethod
    def install(
        self,
        url: str,
        name: str | None,
        ref: str | None,
        credentials: tuple[str, str] | None,
        overrides: Data,
    ) -> Data:
        """Record the installation; the operation (not run yet)."""

    @abc.abstractmethod
    def upload(
        self,
        stream: BinaryIO,
        *,
        name: str | None = None,
        filename: str | None = None,
        tool: str | None = None,
        overrides: Data | None = None,
    ) -> Data:
        """Install from an archive, or redeploy ``tool`` from one; the operation."""

    @abc.abstractmethod
    def submit(self, kind: str, name: str, wait: bool, params: Data) -> Data:
        """Record an operation on a tool; with ``wait``, a busy tool is waited for."""

    @abc.abstractmethod
    def run(self, op: Data, progress: Progress | None) -> Data:
        """Run (locally) or follow (remotely) the operation to its end; its final record.
        An operation that failed raises its error."""

    @property
    @abc.abstractmethod
    def can_detach(self) -> bool:
        """Whether an operation goes on without this process (a server runs it)."""

    @abc.abstractmethod
    def operations(self, tool: str | None) -> list[Data]: ...

    @abc.abstractmethod
    def operation(self, op_id: str) -> Data: ...

    @abc.abstractmethod
    def operation_log(self, op_id: str) -> str: ...

    @abc.abstractmethod
    def follow_operation_log(self, op_id: str) -> Iterator[str]: ...

    @abc.abstractmethod
    def cancel(self, op_id: str) -> bool:
        """Ask the operation to stop; False if it had ended."""

    @abc.abstractmethod
    def events(self, last: int, tool: str | None, follow: bool) -> Iterator[Data]: ...

    @abc.abstractmethod
    def plugins(self) -> list[Data]: ...

    # -- people and programs -----------------------------------------------------------------

    @abc.abstractmethod
    def whoami(self) -> Data:
        """``/api/auth/me``'s document: name, kind, role, token."""

    @abc.abstractmethod
    def users(self) -> list[Data]: ...

    @abc.abstractmethod
    def add_user(self, name: str, role: str, password: str | None, service: bool) -> Data: ...

    @abc.abstractmethod
    def change_user(
        self, name: str, *, role: str | None = None, disabled: bool | None = None
    ) -> Data: ...

    @abc.abstractmethod
    def reset_password(self, name: str, password: str) -> Data: ...

    @abc.abstractmethod
    def teams(self) -> list[Data]: ...

    @abc.abstractmethod
    def add_team(self, name: str) -> Data: ...

    @abc.abstractmethod
    def delete_team(self, name: str) -> None: ...

    @abc.abstractmethod
    def set_member(self, team: str, user: str, member: bool) -> None: ...

    @abc.abstractmethod
    def grant(self, tool: str, role: str | None, *, user: str | None, team: str | None) -> None:
        """Give the role on the tool (None: take the grant away)."""

    @abc.abstractmethod
    def tokens(self, user: str | None) -> list[Data]: ...

    @abc.abstractmethod
    def create_token(
        self,
        name: str,
        scopes: tuple[str, ...],
        tools: tuple[str, ...],
        days: int | None,
        user: str | None,
    ) -> Data:
        """``{"token": text (shown once), "record": {...}}``."""

    @abc.abstractmethod
    def revoke_token(self, token_id: str) -> None: ...

    @abc.abstractmethod
    def audit(
        self, tool: str | None, actor: str | None, since: float | None, limit: int
    ) -> list[Data]: ...

    @abc.abstractmethod
    def hook(self, tool: str, change: str, value: int | None = None) -> Data:
        """The tool's webhook after ``change`` (``show``, ``enable``, ``disable``, ``rotate``
        with a grace period in seconds, ``poll`` with an interval or None):
        ``{"hook": ..., "secret": ...}`` (the secret only when one was just made)."""

    @abc.abstractmethod
    def hook_deliveries(self, tool: str, limit: int) -> list[Data]: ...

    # -- notifications ---------------------------------------------------------------------

    @abc.abstractmethod
    def notify_channels(self, tool: str | None) -> list[Data]:
        """The instance's channels, or those subscribed for ``tool``."""

    @abc.abstractmethod
    def notify_add(
        self,
        name: str,
        kind: str,
        target: str,
        *,
        events: list[str],
        tools: list[str],
        tool: str | None,
    ) -> Data:
        """``{"channel": ..., "secret": ...}`` (a webhook channel's secret, this once)."""

    @abc.abstractmethod
    def notify_change(
        self, name: str, *, enabled: bool | None, events: list[str] | None
    ) -> Data: ...

    @abc.abstractmethod
    def notify_remove(self, name: str) -> None: ...

    @abc.abstractmethod
    def notify_test(self, name: str) -> int:
        """Queue a test notification; its delivery id."""

    @abc.abstractmethod
    def notify_deliveries(self, name: str, limit: int) -> list[Data]: ...

    # -- domains and the ingress -------------------------------------------------------------

    @abc.abstractmethod
    def domains(self, tool: str | None) -> list[Data]:
        """One tool's custom domains, or every tool's."""

    @abc.abstractmethod
    def domain_add(self, tool: str, name: str, tls: str) -> Data: ...

    @abc.abstractmethod
    def domain_remove(self, tool: str, name: str) -> None: ...

    @abc.abstractmethod
    def ingress(self) -> Data:
        """The ingress in use, whether it serves, and each tool's route against it."""

    @abc.abstractmethod
    def ingress_ca(self) -> str | None:
        """The ingress's internal CA root certificate (PEM), if it has one."""
