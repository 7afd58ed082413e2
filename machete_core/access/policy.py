"""``authorize(principal, action, tool)``: the one answer to "may they?", for every host.

A tool the principal may not see is answered as a missing tool (404), never a refusal (403),
so names cannot be enumerated. Tokens are capped by their scopes and tool restriction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from machete_core.access.actions import Action, PermissionRule
from machete_core.access.principal import Principal
from machete_core.access.roles import Role
from machete_core.errors import (
    AuthenticationError,
    ForbiddenError,
    PluginFailedError,
    TokenCannotCreateTokensError,
    ToolNotFoundError,
)
from machete_core.settings import Settings
from machete_core.state.store import Store
from machete_core.state.views import ToolRecord

#: Asks the plugins for rules: (principal, action name, tool name) -> rules.
RuleSource = Callable[[Principal, str, str | None], Iterable[PermissionRule]]


def _no_rules(_p: Principal, _a: str, _t: str | None) -> Sequence[PermissionRule]:
    return ()


class Authorizer:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        actions: Callable[[], dict[str, Action]],
        rules: RuleSource = _no_rules,
    ) -> None:
        self._store = store
        self._settings = settings
        self._actions = actions
        self._rules = rules

    def action(self, name: str) -> Action | None:
        return self._actions().get(name)

    # -- roles ---------------------------------------------------------------------------

    def _sees_all(self, principal: Principal) -> bool:
        """Their instance role counts on every tool (admins, or visibility ``all``)."""
        role = principal.role or Role.VIEWER
        return role >= Role.ADMIN or self._settings.tool_visibility != "granted"

    def _role_on(self, principal: Principal, tool: ToolRecord, instance: bool) -> Role | None:
        """The highest of their grants on ``tool`` (theirs and their teams'), and of their
        instance role when ``instance``; None when neither gives one."""
        if principal.trusted:
            return Role.OWNER
        if principal.role is None or principal.user_id is None:
            return None
        roles = [
            Role.parse(r)
            for r in self._store.grant_roles(tool.id, principal.user_id, principal.team_ids)
        ]
        if instance:
            roles.append(principal.role)
        return max(roles) if roles else None

    def tool_role(self, principal: Principal, tool: ToolRecord) -> Role | None:
        """The principal's role on ``tool``; None when they may not see it at all."""
        token = principal.token
        if token is not None and token.tools and tool.name not in token.tools:
            return None
        return self._role_on(principal, tool, self._sees_all(principal))

    def granted_role(self, principal: Principal, tool: ToolRecord) -> Role | None:
        """The role from grants alone (or admin and up): who may open a ``granted`` tool."""
        return self._role_on(principal, tool, (principal.role or Role.VIEWER) >= Role.ADMIN)

    def visible_tools(self, principal: Principal, tools: Sequence[ToolRecord]) -> list[ToolRecord]:
        if principal.trusted:
            return list(tools)
        if principal.role is None or principal.user_id is None:
            return []
        restricted = principal.token.tools if principal.token is not None else frozenset()
        sees_all = self._sees_all(principal)
        granted = (
            set()
            if sees_all
            else set(self._store.granted_tool_ids(principal.user_id, principal.team_ids))
        )
        return [
            t
            for t in tools
            if (not restricted or t.name in restricted) and (sees_all or t.id in granted)
        ]

    def sees_every_tool(self, principal: Principal) -> bool:
        if principal.trusted:
            return True
        if principal.role is None or (principal.token is not None and principal.token.tools):
            return False
        return self._sees_all(principal)

    # -- the decision --------------------------------------------------------------------

    def authorize(
        self, principal: Principal, action_name: str, tool: str | int | ToolRecord | None = None
    ) -> ToolRecord | None:
        """Return (for tool actions) the tool, or raise: ``unauthenticated`` without a
        principal, ``tool_not_found`` for a tool they may not see, ``forbidden`` otherwise.

        A tool action without a tool checks only what the principal's token allows: callers
        that list or find things by id check each tool (``tool_role``, ``visible_tools``)."""
        record = None
        if tool is not None:
            record = tool if isinstance(tool, ToolRecord) else self._store.get_tool(tool)
        if principal.trusted:
            return record
        if not principal.signed_in or principal.role is None:
            raise AuthenticationError("sign in, or send an API token")
        action = self.action(action_name)
        if action is None:
            raise ForbiddenError(f"no permission rule allows {action_name!r}")
        # A CLI token stands for the person who signed in with `machete login` (password and
        # second factor, like a session); a personal or service token cannot mint more.
        if principal.token is not None and principal.token.kind != "cli" and action.people_only:
            raise TokenCannotCreateTokensError(
                "API tokens cannot manage tokens; sign in (or machete login)"
            )
        role: Role | None = principal.role
        from_grant = False
        if action.on_tool and record is None:
            # A tool action asked of no one tool (a listing, an operation found by id): the
            # caller checks each tool it touches; here only the token's scope counts.
            role = Role.OWNER
        elif action.on_tool and record is not None:
            role = self.tool_role(principal, record)
            if role is None:
                shown = record.name if isinstance(tool, ToolRecord) else tool
                raise ToolNotFoundError(f"no tool named {shown!r}")
            from_grant = role > principal.role
        elif not action.on_tool and principal.token is not None and principal.token.tools:
            # A token restricted to tools acts on those tools only.
            if action.name != "events.read":
                raise ForbiddenError(
                    f"this token is restricted to {', '.join(sorted(principal.token.tools))}"
                )
        builtin = role is not None and role >= action.role
        try:
            allowed = self._decide(principal, action, record, builtin, from_grant)
        except PluginFailedError as exc:
            raise ForbiddenError(f"refused: {exc.message}") from None
        if allowed and principal.token is not None and action.scope not in principal.token.scopes:
            raise ForbiddenError(
                f"this token lacks the scope {action.scope!r} (needed for {action.name})"
            )
        if not allowed:
            raise ForbiddenError(
                f"{action.name} needs the {action.role.label} role"
                + (f" on {record.name}" if record is not None and action.on_tool else "")
            )
        return record

    def allows(
        self, principal: Principal, action_name: str, tool: str | int | ToolRecord | None = None
    ) -> bool:
        try:
            self.authorize(principal, action_name, tool)
        except (AuthenticationError, ForbiddenError, ToolNotFoundError):
            return False
        return True

    def _decide(
        self,
        principal: Principal,
        action: Action,
        tool: ToolRecord | None,
        builtin: bool,
        from_grant: bool,
    ) -> bool:
        tool_name = tool.name if tool is not None else None
        best = -1
        verdicts: list[bool] = []
        if builtin:
            best, verdicts = (2 if from_grant else 0), [True]
        for rule in self._rules(principal, action.name, tool_name):
            if rule.action != action.name or (rule.tool is not None and rule.tool != tool_name):
                continue
            if rule.subject is not None and not self._names(principal, rule.subject):
                continue
            if rule.specificity > best:
                best, verdicts = rule.specificity, []
            if rule.specificity == best:
                verdicts.append(rule.effect == "allow")
        return bool(verdicts) and all(verdicts)

    def _names(self, principal: Principal, subject: str) -> bool:
        kind, _, value = subject.partition(":")
        if kind == "user":
            return value == principal.name
        if kind == "role":
            return principal.role is not None and principal.role.label == value
        if kind == "team":
            try:
                return self._store.team_id(value) in principal.team_ids
            except Exception:
                return False
        return False
