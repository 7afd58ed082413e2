"""The permission table: every action, the least role that may take it, whether it concerns one
tool, and the token scope it needs. This is data; ``authorize`` reads it, the route table of
the HTTP host names an action per route, and the tests walk both.

Plugins add actions through ``machete_register_actions`` (records of :class:`Action`).
"""

from __future__ import annotations

import attrs

from machete_core.access.roles import Role

#: Scopes an API token may carry.
SCOPES = (
    "tools:read",
    "tools:operate",
    "tools:write",
    "admin:read",
    "admin:write",
    "metrics:read",
)


@attrs.frozen
class Action:
    name: str
    #: The least role (on the tool, for tool actions; on the instance otherwise).
    role: Role
    #: The scope a token needs for it.
    scope: str
    #: Concerns one tool: grants on that tool count, and a tool one may not see is a 404.
    on_tool: bool
    description: str
    #: Only a person (a session or the host itself) may take it, never a token.
    people_only: bool = False


BUILTIN_ACTIONS: tuple[Action, ...] = (
    Action(
        "tools.read",
        Role.VIEWER,
        "tools:read",
        True,
        "see a tool, its status, releases, operations",
    ),
    Action("tools.logs", Role.VIEWER, "tools:read", True, "read and follow a tool's output"),
    Action(
        "tools.open",
        Role.VIEWER,
        "tools:read",
        True,
        "open a tool's pages (its access setting decides)",
    ),
    Action(
        "tools.operate",
        Role.OPERATOR,
        "tools:operate",
        True,
        "deploy, build, start, stop, restart, roll back, scale, cancel",
    ),
    Action("tools.install", Role.MAINTAINER, "tools:write", False, "install a new tool"),
    Action(
        "tools.config",
        Role.MAINTAINER,
        "tools:write",
        True,
        "read and change configuration and settings",
    ),
    Action(
        "tools.secrets", Role.MAINTAINER, "tools:write", True, "set secret configuration values"
    ),
    Action(
        "tools.hooks",
        Role.MAINTAINER,
        "tools:write",
        True,
        "manage a tool's push webhook and polling, and see its deliveries",
    ),
    Action(
        "tools.notifications",
        Role.MAINTAINER,
        "tools:write",
        True,
        "subscribe notification channels to a tool, test them and see their deliveries",
    ),
    Action("tools.access", Role.MAINTAINER, "tools:write", True, "change who may open the tool"),
    Action(
        "tools.domains",
        Role.ADMIN,
        "admin:write",
        True,
        "route custom domains to a tool (a name is the installation's, like DNS)",
    ),
    Action("tools.remove", Role.MAINTAINER, "tools:write", True, "remove a tool"),
    Action(
        "tools.grants", Role.MAINTAINER, "admin:write", True, "grant and revoke roles on a tool"
    ),
    Action(
        "events.read",
        Role.VIEWER,
        "tools:read",
        False,
        "follow lifecycle events (of visible tools)",
    ),
    Action(
        "settings.policy",
        Role.ADMIN,
        "admin:write",
        False,
        "change the installation's policy settings",
    ),
    Action("backup", Role.ADMIN, "admin:write", False, "back up and restore the state"),
    Action("reconcile", Role.ADMIN, "admin:write", False, "run the reconciler"),
    Action("users.read", Role.ADMIN, "admin:read", False, "list users, service accounts and teams"),
    Action(
        "users.manage",
        Role.ADMIN,
        "admin:write",
        False,
        "add users and service accounts, set roles, disable, reset passwords, manage teams",
    ),
    Action(
        "tokens.own",
        Role.VIEWER,
        "admin:write",
        False,
        "create, list and revoke one's own tokens",
        people_only=True,
    ),
    Action(
        "tokens.manage",
        Role.ADMIN,
        "admin:write",
        False,
        "create and revoke tokens of others and of service accounts",
        people_only=True,
    ),
    Action("audit.read", Role.ADMIN, "admin:read", False, "read and export the audit log"),
    Action("plugins.read", Role.ADMIN, "admin:read", False, "list plugins and their providers"),
    Action(
        "settings.read", Role.ADMIN, "admin:read", False, "read the effective settings (masked)"
    ),
    Action("metrics.read", Role.ADMIN, "metrics:read", False, "read the Prometheus metrics"),
    Action(
        "notifications.manage",
        Role.ADMIN,
        "admin:write",
        False,
        "manage the instance's notification channels (any tool's too) and their deliveries",
    ),
)


def action_table(extra: tuple[Action, ...] = ()) -> dict[str, Action]:
    table = {a.name: a for a in BUILTIN_ACTIONS}
    for action in extra:
        table.setdefault(action.name, action)
    return table


@attrs.frozen
class PermissionRule:
    """A plugin's word on one action (``machete_permission_rules``).

    The most specific rules that match decide: one naming a tool beats one that does not, and
    one naming the actor (``user:NAME``, ``team:NAME`` or ``role:ROLE``) beats one that does not.
    Among equally specific rules a deny beats an allow. The built-in table counts as an allow
    naming neither (a grant's as naming the tool); when nothing allows, the answer is no. A
    token's scopes and tool restriction cap every answer.
    """

    effect: str = attrs.field(validator=attrs.validators.in_(("allow", "deny")))
    action: str
    tool: str | None = None
    subject: str | None = None
    reason: str = ""

    @property
    def specificity(self) -> int:
        return (2 if self.tool is not None else 0) + (1 if self.subject is not None else 0)
