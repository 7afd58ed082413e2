"""The access parts of one installation, built once per ``Core``: the authorizer (with the
plugins' actions and rules), the authenticator and the auditor."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from functools import cached_property

from machete_core.access import throttle
from machete_core.access.actions import Action, PermissionRule, action_table
from machete_core.access.admin import AccessAdmin
from machete_core.access.audit import Auditor
from machete_core.access.authn import AccessSignals, Authenticator
from machete_core.access.device_login import DeviceLogins
from machete_core.access.policy import Authorizer
from machete_core.access.principal import Principal
from machete_core.events import EventBus
from machete_core.plugins.manager import PluginManager
from machete_core.secrets import SecretBox
from machete_core.settings import Settings
from machete_core.state.store import Store

log = logging.getLogger(__name__)


class Access:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        secrets_box: Callable[[], SecretBox],
        plugins: PluginManager,
        events: EventBus | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._plugins = plugins
        self.signals = AccessSignals(events)
        self.auditor = Auditor(store, settings.audit_retention_days)
        self.authorizer = Authorizer(store, settings, self.actions, self._rules)
        self.authenticator = Authenticator(
            store, settings, secrets_box, self.auditor, signals=self.signals
        )
        self.device_logins = DeviceLogins(
            store, self.authenticator, self.auditor, clock=lambda: self.authenticator.clock()
        )

    def has_rules(self) -> bool:
        """Does any plugin add permission rules (which may do I/O)?"""
        return self._plugins.implements("machete_permission_rules")

    def actions(self) -> dict[str, Action]:
        return self._actions

    @cached_property
    def _actions(self) -> dict[str, Action]:
        extra: list[Action] = []
        for plugin, offered in self._plugins.call_host_hook("machete_register_actions"):
            for action in offered or ():
                if isinstance(action, Action):
                    extra.append(action)
                else:
                    log.warning("plugin %s offered a non-Action %r; skipped", plugin, action)
        return action_table(tuple(extra))

    def _rules(
        self, principal: Principal, action: str, tool: str | None
    ) -> Iterable[PermissionRule]:
        # A plugin that fails here makes the answer "no" (fail closed), reported by name.
        results = self._plugins.call_host_hook(
            "machete_permission_rules",
            fail_closed=True,
            principal=principal,
            action=action,
            tool=tool,
        )
        for _plugin, rules in results:
            for rule in rules or ():
                if isinstance(rule, PermissionRule):
                    yield rule

    def prune(self, now: float | None = None) -> None:
        """Audit rows past their retention, expired sessions, sign-in failures past the
        throttle's window."""
        now = time.time() if now is None else now
        self.auditor.prune(now)
        self._store.prune_sessions(now)
        self._store.prune_failures(now - throttle.WINDOW_S)

    def admin(self, principal: Principal) -> AccessAdmin:
        return AccessAdmin(
            principal, self._store, self._settings, self.authorizer, self.auditor, self.signals
        )
