"""Pages for watching and administering: live events, people (users, service accounts,
teams and their grants), the audit log with filters, plugins and the effective settings."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from machete_core.errors import InvalidInputError
from machete_core.machete import Machete
from machete_web.api.common import int_query, machete
from machete_web.api.events import newest
from machete_web.dashboard.pages import field, form, render, see_other
from machete_web.dashboard.views.notifications import (
    FORM_CHOICES,
    added_channel,
    channels_with_deliveries,
)
from machete_web.ingress_host import with_listener
from machete_web.keys import TOOLS_LISTENER, core

ROLES = ("viewer", "operator", "maintainer", "admin", "owner")


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/events", events_page)
    r.add_get("/people", people_page)
    r.add_post("/people/users", add_user)
    r.add_post("/people/users/{user}", change_user)
    r.add_post("/people/teams", add_team)
    r.add_post("/people/teams/{team}/members", change_membership)
    r.add_get("/audit", audit_page)
    r.add_get("/plugins", plugins_page)
    r.add_get("/settings", settings_page)
    r.add_post("/settings/notifications", add_channel)


async def events_page(request: web.Request) -> web.Response:
    tool = request.query.get("tool") or None
    events, last = await core(request, newest, machete(request), 100, tool)
    context = {"title": "Events", "events": list(reversed(events)), "last_id": last, "tool": tool}
    return await render(request, "events.html", context)


def _people(m: Machete) -> dict[str, Any]:
    grants = m.access.grants(None)
    return {"users": m.access.users(), "teams": m.access.teams(), "grants": grants}


async def people_page(request: web.Request) -> web.Response:
    data = await core(request, _people, machete(request))
    m = machete(request)
    may_manage = "users.manage" in await core(request, m.allowed, ("users.manage",))
    context = {**data, "title": "People", "roles": ROLES, "may_manage": may_manage}
    return await render(request, "people.html", context)


async def add_user(request: web.Request) -> web.Response:
    data = await form(request)
    await core(
        request,
        machete(request).access.add_user,
        field(data, "name", limit=200),
        field(data, "role", limit=20),
        password=field(data, "password", required=False) or None,
        service=data.get("service") == "on",
    )
    return see_other("/people")


async def change_user(request: web.Request) -> web.Response:
    data = await form(request)
    name = request.match_info["user"]
    admin = machete(request).access
    change = field(data, "change", limit=20)
    if change == "role":
        await core(request, admin.set_role, name, field(data, "role", limit=20))
    elif change in ("disable", "enable"):
        await core(request, admin.set_disabled, name, change == "disable")
    else:
        raise InvalidInputError("change the role, or disable or enable", details={"path": "change"})
    return see_other("/people")


async def add_team(request: web.Request) -> web.Response:
    data = await form(request)
    await core(request, machete(request).access.add_team, field(data, "name", limit=200))
    return see_other("/people")


async def change_membership(request: web.Request) -> web.Response:
    data = await form(request)
    member = field(data, "member", limit=10) != "remove"
    await core(
        request,
        machete(request).access.set_member,
        request.match_info["team"],
        field(data, "user", limit=200),
        member,
    )
    return see_other("/people")


async def audit_page(request: web.Request) -> web.Response:
    q = request.query
    hours = int_query(request, "hours", 24, 1, 24 * 366)
    action = q.get("action", "").strip()
    rows = await core(
        request,
        machete(request).access.audit,
        tool=q.get("tool") or None,
        actor=q.get("actor") or None,
        since=time.time() - hours * 3600,
        limit=2000,
    )
    if action:
        rows = [r for r in rows if r.action.startswith(action)]
    context = {
        "title": "Audit log",
        "rows": list(reversed(rows))[:500],
        "filters": {
            "tool": q.get("tool", ""),
            "actor": q.get("actor", ""),
            "action": action,
            "hours": hours,
        },
    }
    return await render(request, "audit.html", context)


async def plugins_page(request: web.Request) -> web.Response:
    report = await core(request, machete(request).plugin_report)
    return await render(request, "plugins.html", {"title": "Plugins", "plugins": report})


def _settings(m: Machete) -> dict[str, Any]:
    may_notify = "notifications.manage" in m.allowed(("notifications.manage",))
    return {
        "settings": m.effective_settings(),
        "ingress": m.domains.ingress(),
        "channels": channels_with_deliveries(m, None) if may_notify else None,
    }


async def settings_page(
    request: web.Request, *, channel_secret: str | None = None, status: int = 200
) -> web.Response:
    """The settings in force, and (admins) the instance's notification channels;
    ``channel_secret`` is a new webhook channel's, shown on this answer only."""
    data = await core(request, _settings, machete(request))
    data["ingress"] = with_listener(data["ingress"], request.app[TOOLS_LISTENER])
    context = {
        **data,
        "title": "Settings",
        "channel_secret": channel_secret,
        "add_action": "/settings/notifications",
        "instance": True,
        "choices": FORM_CHOICES,
    }
    return await render(request, "settings.html", context, status=status)


async def add_channel(request: web.Request) -> web.Response:
    """An instance notification channel; a webhook's secret is shown on this answer only."""
    added = await added_channel(request, None)
    if added.secret:
        return await settings_page(request, channel_secret=added.secret, status=201)
    return see_other("/settings?notice=notifications#notifications")
