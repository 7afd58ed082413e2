"""Roles, lowest to highest; a role includes every right of those below it."""

from __future__ import annotations

import enum

from machete_core.errors import InvalidInputError


class Role(enum.IntEnum):
    VIEWER = 1
    OPERATOR = 2
    MAINTAINER = 3
    ADMIN = 4
    OWNER = 5

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str | Role) -> Role:
        if isinstance(value, Role):
            return value
        try:
            return cls[str(value).strip().upper()]
        except KeyError:
            names = ", ".join(r.label for r in cls)
            raise InvalidInputError(
                f"there is no role {value!r} (roles: {names})", details={"path": "role"}
            ) from None


#: The highest role a per-tool grant can give.
MAX_GRANT = Role.MAINTAINER

#: Who may open a tool's pages (its own origin), per tool.
TOOL_ACCESS = ("public", "members", "granted")
