"""What can go wrong between the CLI and a server, each with a stable code (docs/errors.md,
"Host codes") and a message that says what to do."""

from __future__ import annotations

from typing import Any

from machete_core.errors import MacheteError


class RemoteError(MacheteError):
    """An error the server answered (its code and message, shown as the core shows its own),
    or an operation that ended in one."""

    code = "remote_error"

    def __init__(
        self, code: str, message: str, status: int = 400, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, details=details)
        # The server's code, not a class's: the CLI prints what the server said.
        self.code = code  # type: ignore[misc]
        self.http_status = status  # type: ignore[misc]


class ServerUnreachableError(MacheteError):
    code = "server_unreachable"
    http_status = 503


class TlsFailedError(MacheteError):
    code = "tls_failed"
    http_status = 503


class ApiVersionMismatchError(MacheteError):
    code = "api_version_mismatch"
    http_status = 400


class BadResponseError(MacheteError):
    """An answer that is not MACHETE's API (a proxy's error page, a cut-off body)."""

    code = "bad_response"
    http_status = 502


class NeedsLocalModeError(MacheteError):
    """A command that works on this machine's state only (backup, restore, ...), run against
    a server elsewhere."""

    code = "needs_local_mode"
    http_status = 400


class NeedsServerError(MacheteError):
    """Something only a running server can do (``--detach``: someone must run it)."""

    code = "needs_server"
    http_status = 400
