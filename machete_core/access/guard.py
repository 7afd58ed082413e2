"""The facade's gatekeeper for one principal: authorize (denials audited), audit what changed,
find operations and tools only where the principal may see them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from machete_core.access.principal import Principal
from machete_core.access.roles import TOOL_ACCESS, Role
from machete_core.context import Core
from machete_core.errors import (
    AuthenticationError,
    ForbiddenError,
    InvalidInputError,
    MacheteError,
    OperationNotFoundError,
)
from machete_core.state.views import OperationRecord, ToolRecord


class Guard:
    def __init__(self, core: Core, principal: Principal) -> None:
        self._core = core
        self._principal = principal

    def authorize(self, action: str, tool: str | int | None = None) -> ToolRecord | None:
        try:
            return self._core.access.authorizer.authorize(self._principal, action, tool)
        except (AuthenticationError, ForbiddenError) as exc:
            self._core.access.auditor.record(
                self._principal,
                action,
                target=None if tool is None else str(tool),
                tool=None if tool is None else str(tool),
                outcome="denied",
                reason=exc.message,
            )
            raise

    def tool(self, action: str, ident: str | int) -> ToolRecord:
        record = self.authorize(action, ident)
        assert record is not None
        return record

    @contextmanager
    def audited(self, action: str, tool: str | None, target: str | None = None) -> Iterator[None]:
        """Write the audit row of a change: ``ok``, or ``failed`` with the error's code."""
        auditor = self._core.access.auditor
        try:
            yield
        except (AuthenticationError, ForbiddenError):
            raise  # authorize() wrote the denial
        except MacheteError as exc:
            auditor.record(
                self._principal,
                action,
                target=target or tool,
                tool=tool,
                outcome="failed",
                reason=f"{exc.code}: {exc.message}",
            )
            raise
        auditor.record(self._principal, action, target=target or tool, tool=tool)

    def operation(self, op_id: str, action: str) -> OperationRecord:
        """The operation, if the principal may ``action`` on its tool (an install's, or a
        removed tool's: if they started it, or are an admin); else ``operation_not_found``."""
        store = self._core.store
        op = store.get_operation(op_id)
        if self._principal.trusted:
            return op
        if op.tool_id is not None:
            try:
                self.authorize(action, op.tool_id)
                return op
            except MacheteError as exc:
                if exc.code != "tool_not_found":
                    raise
                # Hidden from them, or removed (perhaps by this very operation, just now).
                if store.find_tool(op.tool_id) is not None:
                    raise OperationNotFoundError(f"no operation {op_id!r}") from None
        mine = op.actor == self._principal.actor() or (
            op.actor.kind.value == "user" and op.actor.id == str(self._principal.user_id)
        )
        if mine or (self._principal.role or 0) >= Role.ADMIN:
            return op
        raise OperationNotFoundError(f"no operation {op_id!r}")

    def visible_tool_names(self) -> set[str] | None:
        authz = self._core.access.authorizer
        if authz.sees_every_tool(self._principal):
            return None
        tools = self._core.store.list_tools()
        return {t.name for t in authz.visible_tools(self._principal, tools)}

    def may_open(self, ident: str | int) -> bool:
        tool = self._core.store.get_tool(ident)
        if tool.access == "public" or self._principal.trusted:
            return True
        if not self._principal.signed_in:
            return False
        authz = self._core.access.authorizer
        if tool.access == "granted":
            return authz.granted_role(self._principal, tool) is not None
        return authz.allows(self._principal, "tools.open", tool)

    def allows_at_once(self, action: str) -> bool:
        """Decided without I/O: no tool to look up and no rules plugin to ask (``authorize``
        itself touches the database only for a tool). False means "ask ``authorize``" (which
        audits a refusal), not "no"."""
        access = self._core.access
        return not access.has_rules() and access.authorizer.allows(self._principal, action)

    def system_only(self) -> None:
        if not self._principal.trusted:
            raise ForbiddenError("only MACHETE itself does this")

    def set_access(self, ident: str | int, access: str) -> ToolRecord:
        if access not in TOOL_ACCESS:
            raise InvalidInputError(
                f"access is one of {', '.join(TOOL_ACCESS)}", details={"path": "access"}
            )
        tool = self.tool("tools.access", ident)
        with self.audited("tools.access", tool.name, f"{tool.name}={access}"):
            updated = self._core.store.update_tool(tool.id, access=access)
        # Servers' routers keep the access with a tool's route: they drop it on this event.
        self._core.events.publish(
            "tool.access", tool=tool.name, actor=self._principal.actor(), access=access
        )
        return updated
