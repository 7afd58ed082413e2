"""The one exception hierarchy of MACHETE.

Every error a user can cause or meet carries a stable ``code`` (for scripts and the API) and a
message written for a person. Hosts map ``http_status`` onto responses and exit codes; nothing
below them should ever surface as a traceback or an HTTP 500.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar


class MacheteError(Exception):
    """Base of every error MACHETE reports to a user."""

    code: ClassVar[str] = "machete_error"
    http_status: ClassVar[int] = 400

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            out["details"] = self.details
        return out


class InvalidInputError(MacheteError):
    code = "invalid_input"
    http_status = 422


class ManifestError(MacheteError):
    """A manifest that cannot be turned into a ToolSpec; lists every problem with its path."""

    code = "invalid_manifest"
    http_status = 422

    def __init__(self, problems: Sequence[str], *, source: str = "manifest") -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(
            f"{source} is invalid ({len(self.problems)} problem(s)):\n{lines}",
            details={"problems": self.problems, "source": source},
        )


class InvalidNameError(InvalidInputError):
    code = "invalid_name"


class SourcePolicyError(MacheteError):
    """A source location that the settings do not allow (scheme, credentials, form)."""

    code = "source_not_allowed"
    http_status = 422


class SourceError(MacheteError):
    """Fetching or resolving a source failed (unreachable, unknown ref, bad repository)."""

    code = "source_failed"
    http_status = 422


class RefNotFoundError(SourceError):
    code = "ref_not_found"


class NotFoundError(MacheteError):
    code = "not_found"
    http_status = 404


class ToolNotFoundError(NotFoundError):
    code = "tool_not_found"


class OperationNotFoundError(NotFoundError):
    code = "operation_not_found"


class ConflictError(MacheteError):
    code = "conflict"
    http_status = 409


class ToolExistsError(ConflictError):
    code = "tool_exists"


class ToolBusyError(ConflictError):
    code = "tool_busy"


class BuildError(MacheteError):
    """The builder failed; ``details['last_lines']`` holds the end of its output."""

    code = "build_failed"
    http_status = 422

    def __init__(self, message: str, *, last_lines: Sequence[str] = ()) -> None:
        super().__init__(message, details={"last_lines": list(last_lines)})
        self.last_lines = list(last_lines)


class BuildTimeoutError(BuildError):
    code = "build_timeout"


class CancelledError(MacheteError):
    code = "cancelled"
    http_status = 409


class RuntimeProviderError(MacheteError):
    """The runtime (container engine) refused or failed an action."""

    code = "runtime_failed"
    http_status = 502


class EngineUnavailableError(RuntimeProviderError):
    code = "engine_unavailable"
    http_status = 503


class NetworkGuardUnavailableError(RuntimeProviderError):
    """MACHETE_NETWORK_GUARD=required, and the rules that keep tools' networks apart cannot
    be kept on this host."""

    code = "network_guard_unavailable"
    http_status = 503


class ToolUnavailableError(MacheteError):
    code = "tool_unavailable"
    http_status = 503


class HealthCheckError(MacheteError):
    code = "health_check_failed"
    http_status = 422


class NotRunningError(ConflictError):
    code = "not_running"


class PluginError(MacheteError):
    code = "plugin_error"
    http_status = 500


class PluginFailedError(PluginError):
    """A provider raised something other than a MACHETE error: a bug in that plugin. The
    message names the plugin, its distribution and version."""

    code = "plugin_failed"
    http_status = 502


class PluginConflictError(PluginError):
    """Two plugins offer a provider of the same kind under the same name."""

    code = "plugin_conflict"


class ProviderNotFoundError(MacheteError):
    code = "provider_not_found"
    http_status = 422


class ProviderUnavailableError(MacheteError):
    code = "provider_unavailable"
    http_status = 422


class UploadTimeoutError(MacheteError):
    """An upload whose client stalled or took longer than the upload time limits."""

    code = "upload_timeout"
    http_status = 408


class StateError(MacheteError):
    code = "state_error"
    http_status = 500


class DatabaseCorruptError(StateError):
    code = "database_corrupt"
    http_status = 503


class SchemaTooNewError(StateError):
    code = "schema_too_new"
    http_status = 503


class StateMissingError(StateError):
    """The database knows nothing of objects this installation has on the engine."""

    code = "state_missing"
    http_status = 503


# -- Sources, archives and fetching --------------------------------------------------------


class UnsafeArchiveError(MacheteError):
    """An archive member that could write outside the tree, or an archive over a limit."""

    code = "unsafe_archive"
    http_status = 422

    def __init__(self, message: str, member: str | None = None) -> None:
        super().__init__(message, details={"member": member} if member is not None else None)
        self.member = member


class AbsolutePathError(UnsafeArchiveError):
    code = "archive_absolute_path"


class PathTraversalError(UnsafeArchiveError):
    code = "archive_path_traversal"


class BadNameError(UnsafeArchiveError):
    code = "archive_bad_name"


class LinkEscapeError(UnsafeArchiveError):
    code = "archive_link_escape"


class HardlinkError(UnsafeArchiveError):
    code = "archive_hardlink"


class LinkTraversalError(UnsafeArchiveError):
    code = "archive_link_traversal"


class SpecialFileError(UnsafeArchiveError):
    code = "archive_special_file"


class DuplicateMemberError(UnsafeArchiveError):
    code = "archive_duplicate_member"


class TooManyMembersError(UnsafeArchiveError):
    code = "archive_too_many_members"
    http_status = 413


class MemberTooLargeError(UnsafeArchiveError):
    code = "archive_member_too_large"
    http_status = 413


class ArchiveTooLargeError(UnsafeArchiveError):
    code = "archive_too_large"
    http_status = 413


class CorruptArchiveError(UnsafeArchiveError):
    code = "archive_corrupt"


class ArchiveTimeoutError(UnsafeArchiveError):
    code = "archive_timeout"


class AddressNotAllowedError(MacheteError):
    """Deliberately generic: it never echoes anything the target answered."""

    code = "address_not_allowed"
    http_status = 422


class FetchLimitError(MacheteError):
    code = "fetch_limit"
    http_status = 413


# -- Builds --------------------------------------------------------------------------------


class DiskFullError(MacheteError):
    code = "disk_full"
    http_status = 507


class UnsafeDockerfileError(InvalidInputError):
    code = "unsafe_dockerfile"


class BaseImageRefusedError(InvalidInputError):
    code = "base_image_refused"


# -- Running tools -------------------------------------------------------------------------


class VolumeNotAllowedError(InvalidInputError):
    code = "volume_not_allowed"


class DockerAccessRefusedError(InvalidInputError):
    code = "docker_access_refused"


class ResourcesExceedHostError(InvalidInputError):
    code = "resources_exceed_host"


class UnsafePathError(InvalidInputError):
    code = "unsafe_path"


# -- State, backups and secrets ------------------------------------------------------------


class SecretKeyError(MacheteError):
    code = "secret_key_error"
    http_status = 500


class BackupError(InvalidInputError):
    code = "backup_invalid"


class RestoreRefusedError(InvalidInputError):
    code = "restore_refused"
    http_status = 409


class InternalError(MacheteError):
    """Something MACHETE did not expect; the operation log holds the traceback."""

    code = "internal_error"
    http_status = 500


# -- People, sign-in and permissions --------------------------------------------------------


class AuthenticationError(MacheteError):
    """No credentials, or ones that are unknown, expired or revoked."""

    code = "unauthenticated"
    http_status = 401


class TotpRequiredError(AuthenticationError):
    """The password was right; the account's second factor code is missing or wrong."""

    code = "totp_required"


class ForbiddenError(MacheteError):
    """Known credentials that do not allow this action (a hidden tool is a 404 instead)."""

    code = "forbidden"
    http_status = 403


class RoleTooHighError(ForbiddenError):
    """Granting or setting a role above the granter's own."""

    code = "role_above_own"


class TokenCannotCreateTokensError(ForbiddenError):
    code = "token_cannot_create_tokens"


class LastOwnerError(ConflictError):
    code = "last_owner"


class NameTakenError(ConflictError):
    code = "name_taken"


class WeakPasswordError(InvalidInputError):
    code = "weak_password"


class SetupClosedError(MacheteError):
    """The one-time setup token is unknown, used, expired, or an owner exists already."""

    code = "setup_closed"
    http_status = 403


class UserNotFoundError(NotFoundError):
    code = "user_not_found"


class TeamNotFoundError(NotFoundError):
    code = "team_not_found"


class TokenNotFoundError(NotFoundError):
    code = "token_not_found"


class TooManyAttemptsError(MacheteError):
    """Sign-in failures for this name or address: wait ``details.retry_after`` seconds."""

    code = "too_many_attempts"
    http_status = 429


class AuthorizationPendingError(MacheteError):
    """A device login (``machete login --device``) nobody has approved yet: ask again after
    the interval."""

    code = "authorization_pending"
    http_status = 400


class SlowDownError(MacheteError):
    """A device login polled faster than its interval: wait longer between polls."""

    code = "slow_down"
    http_status = 429


class DeviceCodeExpiredError(MacheteError):
    """A device login's code is unknown, used or expired: start again."""

    code = "expired_token"
    http_status = 400


class DeviceLoginDeniedError(ForbiddenError):
    """The person asked to approve a device login refused it."""

    code = "access_denied"


class HookNotFoundError(NotFoundError):
    """No enabled webhook has this id (the same answer whether it never existed or is off)."""

    code = "hook_not_found"


class BadSignatureError(AuthenticationError):
    """A webhook delivery not signed with the tool's secret (or its previous one, in its
    grace period); recorded and audited."""

    code = "bad_signature"


class ChannelNotFoundError(NotFoundError):
    """No notification channel of this name that the asker may manage."""

    code = "channel_not_found"


class ChannelExistsError(ConflictError):
    code = "channel_exists"


class DomainTakenError(ConflictError):
    """A custom domain already routes to a tool (one name, one tool)."""

    code = "domain_taken"


class DomainNotFoundError(NotFoundError):
    code = "domain_not_found"


class IngressError(MacheteError):
    """The ingress (e.g. Caddy's admin API) refused or did not answer a change of routes."""

    code = "ingress_failed"
    http_status = 502
