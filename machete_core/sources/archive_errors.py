"""The errors of archive extraction: one stable code per way an archive can be refused."""

from __future__ import annotations

from machete_core.errors import MacheteError


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
