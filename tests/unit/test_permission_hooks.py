"""Plugins in the permission table, as datasette's hooks: actions of their own, rules (the most
specific wins, deny beats allow, default deny, fail closed), and credentials MACHETE does not
know; and a plugin route's declared action checked before its handler."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from machete_core.access.actions import Action, PermissionRule
from machete_core.access.authn import Authenticator
from machete_core.access.principal import Principal
from machete_core.access.roles import Role
from machete_core.errors import ForbiddenError
from machete_core.machete import Machete, create_machete
from machete_core.plugins import hookimpl
from machete_core.settings import Settings
from machete_plugins import BUILTIN_PLUGINS
from machete_web import create_app
from machete_web.hookspecs import WebRoute
from tests.support.people import PASSWORD, as_user
from tests.support.pointing import deployed


class ReportsPlugin:
    def __init__(self) -> None:
        self.rules: list[PermissionRule] = []
        self.broken = False

    @hookimpl
    def machete_register_actions(self) -> list[Action]:
        return [
            Action("reports.export", Role.OPERATOR, "tools:read", True, "export a report"),
            # A built-in name cannot be replaced.
            Action("tools.read", Role.OWNER, "admin:write", True, "an attempt to take over"),
        ]

    @hookimpl
    def machete_permission_rules(
        self, principal: Principal, action: str, tool: str | None
    ) -> list[PermissionRule]:
        if self.broken:
            raise RuntimeError("rules backend down")
        return self.rules

    @hookimpl
    def machete_actor_from_credentials(
        self, scheme: str, credentials: str, settings: Settings, auth: Authenticator
    ) -> Principal | None:
        if scheme == "Sso" and credentials == "signed-by-the-company:ann":
            return auth.principal_for("ann")
        return None

    @hookimpl
    def machete_web_routes(self) -> list[WebRoute]:
        async def export(request: web.Request) -> web.Response:
            return web.json_response({"exported": request.match_info["tool"]})

        return [WebRoute("GET", "/api/tools/{tool}/report", export, action="reports.export")]


@pytest.fixture
def plugin() -> ReportsPlugin:
    return ReportsPlugin()


@pytest.fixture
def machete(settings: Settings, plugin: ReportsPlugin) -> Iterator[Machete]:
    m = create_machete(settings, builtins=BUILTIN_PLUGINS)
    m.plugins.register(plugin, "reports")
    for name in ("app", "other"):
        deployed(m, name)
    m.access.add_user("ann", "viewer", password=PASSWORD)
    m.access.add_user("ops", "operator", password=PASSWORD)
    yield m
    m.close()


def test_a_plugin_action_is_in_the_table_and_built_ins_stay(machete: Machete) -> None:
    table = machete.core.access.actions()
    assert table["reports.export"].role == Role.OPERATOR
    assert table["tools.read"].role == Role.VIEWER  # not replaced
    as_user(machete, "ops").authorize("reports.export", "app")
    with pytest.raises(ForbiddenError):
        as_user(machete, "ann").authorize("reports.export", "app")


def test_most_specific_rule_wins_and_deny_beats_allow(
    machete: Machete, plugin: ReportsPlugin
) -> None:
    ann, ops = as_user(machete, "ann"), as_user(machete, "ops")
    # An instance-wide allow naming ann lifts her above the table's role...
    plugin.rules = [PermissionRule("allow", "reports.export", subject="user:ann")]
    ann.authorize("reports.export", "app")
    # ...a deny of the same specificity beats it...
    plugin.rules.append(PermissionRule("deny", "reports.export", subject="role:viewer"))
    with pytest.raises(ForbiddenError):
        ann.authorize("reports.export", "app")
    # ...and a rule naming the tool is more specific than both.
    plugin.rules.append(PermissionRule("allow", "reports.export", tool="app", subject="user:ann"))
    ann.authorize("reports.export", "app")
    with pytest.raises(ForbiddenError):
        ann.authorize("reports.export", "other")
    # A tool-specific deny beats the table's allow for the operator.
    plugin.rules = [PermissionRule("deny", "tools.operate", tool="other")]
    with pytest.raises(ForbiddenError):
        ops.submit("restart", "other")
    ops.authorize("tools.operate", "app")


def test_a_rules_plugin_that_fails_makes_the_answer_no(
    machete: Machete, plugin: ReportsPlugin
) -> None:
    plugin.broken = True
    with pytest.raises(ForbiddenError, match="rules backend down"):
        as_user(machete, "ops").authorize("tools.operate", "app")
    assert any(p.status == "failed" for p in machete.plugin_infos() if p.name == "reports")


def test_rules_never_lift_a_token_above_its_scopes(machete: Machete, plugin: ReportsPlugin) -> None:
    plugin.rules = [PermissionRule("allow", "tools.operate", subject="user:ann")]
    text, _ = machete.access.create_token("ro", ("tools:read",), user="ann")
    acting = machete.acting_as(machete.auth.from_token(text))
    with pytest.raises(ForbiddenError, match="scope"):
        acting.authorize("tools.operate", "app")
    as_user(machete, "ann").authorize("tools.operate", "app")  # the person may


async def test_credentials_from_a_plugin_and_a_plugin_route_s_action(
    aiohttp_client: Any, machete: Machete
) -> None:
    client = await aiohttp_client(create_app(machete=machete))
    sso = {"Authorization": "Sso signed-by-the-company:ann"}
    resp = await client.get("/api/auth/me", headers=sso)
    assert resp.status == 200 and (await resp.json())["name"] == "ann"
    resp = await client.get("/api/auth/me", headers={"Authorization": "Sso forged"})
    assert resp.status == 401
    # The plugin route needs reports.export: ann (viewer) is refused, ops passes.
    assert (await client.get("/api/tools/app/report", headers=sso)).status == 403
    text, _ = machete.access.create_token("r", ("tools:read",), user="ops")
    resp = await client.get("/api/tools/app/report", headers={"Authorization": f"Bearer {text}"})
    assert resp.status == 200 and (await resp.json()) == {"exported": "app"}
    assert (await client.get("/api/tools/app/report")).status == 401
