"""The facade's methods about who may do what: sign-in, people and programs, authorizing,
who sees which tool, and who may open one. Mixed into :class:`~machete_core.machete.Machete`
(which holds ``core`` and ``_principal``), so the facade stays one object for hosts."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property

from machete_core import observe
from machete_core.access.admin import AccessAdmin
from machete_core.access.authn import Authenticator
from machete_core.access.device_login import DeviceLogins
from machete_core.access.guard import Guard
from machete_core.access.principal import Principal
from machete_core.context import Core
from machete_core.routing import publish_tool
from machete_core.state.views import ToolRecord
from machete_core.views import ToolView


class AccessMethods:
    core: Core
    _principal: Principal

    @property
    def auth(self) -> Authenticator:
        """Sign-in, sessions, tokens, tickets and the first owner's setup."""
        return self.core.access.authenticator

    @property
    def device_logins(self) -> DeviceLogins:
        """``machete login --device``: codes a signed-in person approves on the dashboard."""
        return self.core.access.device_logins

    @property
    def access(self) -> AccessAdmin:
        """Users, teams, grants, tokens and the audit log, as this object's principal."""
        return self.core.access.admin(self._principal)

    @cached_property
    def _guard(self) -> Guard:
        return Guard(self.core, self._principal)

    def authorize(self, action: str, tool: str | int | None = None) -> ToolRecord | None:
        """Raise unless the principal may take ``action`` (on ``tool``); a tool they may not
        see is ``tool_not_found``. Denials are written to the audit log."""
        return self._guard.authorize(action, tool)

    def allowed(self, actions: Iterable[str], tool: str | int | None = None) -> frozenset[str]:
        """Which of ``actions`` (on ``tool``) the principal may take: what a page offers.
        Asking is not an attempt, so nothing is audited."""
        authorizer = self.core.access.authorizer
        record = None if tool is None else self.core.store.find_tool(tool)
        if tool is not None and record is None:
            return frozenset()  # no such tool (yet, or any more): nothing to offer on it
        return frozenset(a for a in actions if authorizer.allows(self._principal, a, record))

    def sees_every_tool(self) -> bool:
        """Answered without the database: may the principal see every tool?"""
        return self.core.access.authorizer.sees_every_tool(self._principal)

    def allows_at_once(self, action: str) -> bool:
        """True when ``action`` (on no one tool) is allowed without the database or a rules
        plugin; False means "ask :meth:`authorize`", not "no"."""
        return self._guard.allows_at_once(action)

    def visible_tool_names(self) -> set[str] | None:
        """The tools the principal may see; None when that is every tool."""
        return self._guard.visible_tool_names()

    def may_open(self, ident: str | int) -> bool:
        """May the principal open the tool's pages (its access setting decides)?"""
        return self._guard.may_open(ident)

    def set_access(self, ident: str | int, access: str) -> ToolView:
        """Who may open the tool's pages: ``public``, ``members`` or ``granted``."""
        updated = self._guard.set_access(ident, access)
        # The ingress asks the server about a non-public tool's requests, not a public one's:
        # its route changes too (a failure here is the reconciler's to finish, and said).
        publish_tool(self.core, updated.id)
        return observe.one_view(self.core, updated, probe_health=False)
