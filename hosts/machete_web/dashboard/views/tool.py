"""A tool's page and its forms: the actions (deploy, start, stop, restart, scale, rollback,
remove), configuration (secrets write-only), settings, and who may open and operate it."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from machete_core.domain.operations import OperationKind
from machete_core.errors import InvalidInputError
from machete_core.machete import Machete
from machete_core.triggers.webhooks import HookSecret
from machete_web.api.common import actor, int_field, machete, start_operation
from machete_web.api.hooks import delivery_url
from machete_web.dashboard.charts import health_chart
from machete_web.dashboard.pages import field, form, render, see_other
from machete_web.dashboard.views.notifications import (
    FORM_CHOICES,
    added_channel,
    channels_with_deliveries,
)
from machete_web.keys import core

#: What the page may offer, each shown only when allowed.
TOOL_ACTIONS = (
    "tools.operate",
    "tools.logs",
    "tools.config",
    "tools.secrets",
    "tools.remove",
    "tools.access",
    "tools.grants",
    "tools.hooks",
    "tools.notifications",
    "tools.domains",
)
#: The buttons of the header, in order.
OPERATIONS = ("deploy", "start", "stop", "restart")
ROLES_TO_GRANT = ("viewer", "operator", "maintainer")


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/tool/{tool}", tool_page)
    r.add_post("/tool/{tool}/operate", operate)
    r.add_post("/tool/{tool}/remove", remove)
    r.add_post("/tool/{tool}/config", change_config)
    r.add_post("/tool/{tool}/settings", change_settings)
    r.add_post("/tool/{tool}/access", change_access)
    r.add_post("/tool/{tool}/grants", change_grant)
    r.add_post("/tool/{tool}/hook", change_hook)
    r.add_post("/tool/{tool}/notifications", add_channel)
    r.add_post("/tool/{tool}/domains", change_domains)


def _gather(m: Machete, name: str) -> dict[str, Any]:
    """Everything the page shows, in one trip to the pool."""
    view = m.get(name, probe_health=False)
    allowed = m.allowed(TOOL_ACTIONS, name)
    operations = m.operations(name, limit=200)
    return {
        "tool": view,
        "allowed": allowed,
        "releases": m.releases(name),
        # Who made each release: the actor of the operation that built it.
        "made_by": {op.id: op.actor.describe() for op in operations},
        "operations": operations[:15],
        "health": health_chart(m.health_history(name, 60)),
        "config": m.config(name) if "tools.config" in allowed else None,
        "grants": m.access.grants(name) if "tools.grants" in allowed else None,
        "hook": m.hooks.show(name) if "tools.hooks" in allowed else None,
        "deliveries": m.hooks.deliveries(name, 10) if "tools.hooks" in allowed else [],
        "channels": channels_with_deliveries(m, name) if "tools.notifications" in allowed else None,
        "domains": m.domains.list(name),
    }


async def tool_page(
    request: web.Request,
    *,
    secret: str | None = None,
    channel_secret: str | None = None,
    status: int = 200,
) -> web.Response:
    """The tool's page; ``secret`` is a webhook secret just made, shown on this answer only."""
    name = request.match_info["tool"]
    data = await core(request, _gather, machete(request), name)
    tail = request.query.get("tail", "200")
    context = {
        **data,
        "title": name,
        "operations_offered": OPERATIONS,
        "grant_roles": ROLES_TO_GRANT,
        "tail": tail if tail in ("50", "200", "1000", "5000") else "200",
        "notice": request.query.get("notice", ""),
        "secret": secret,
        "hook_url": delivery_url(request, data["hook"]) if data["hook"] else None,
        "add_action": f"/tool/{name}/notifications",
        "channel_secret": channel_secret,
        "choices": FORM_CHOICES,
        "tools_domain": machete(request).settings.tools_domain.strip("."),
    }
    return await render(request, "tool.html", context, status=status)


async def _submit(request: web.Request, kind: OperationKind, **params: Any) -> web.Response:
    op = await core(
        request,
        machete(request).submit,
        kind,
        request.match_info["tool"],
        actor=actor(request),
        **params,
    )
    start_operation(request, op)
    return see_other(f"/operation/{op.id}")


async def operate(request: web.Request) -> web.Response:
    data = await form(request)
    action = field(data, "action", limit=20)
    if action not in ("deploy", "start", "stop", "restart", "scale", "rollback", "build"):
        raise InvalidInputError(f"no action {action!r}", details={"path": "action"})
    kind = OperationKind(action)
    params: dict[str, Any] = {}
    if kind == OperationKind.SCALE:
        params["replicas"] = int_field(field(data, "replicas", limit=4), "replicas", 0, 100)
    if kind == OperationKind.ROLLBACK:
        release = field(data, "release", required=False, limit=10)
        params["release"] = int_field(release, "release", 1, 2**31) if release else None
    if kind == OperationKind.DEPLOY:
        params["force"] = data.get("force") == "on"
    return await _submit(request, kind, **params)


async def remove(request: web.Request) -> web.Response:
    data = await form(request)
    name = request.match_info["tool"]
    if field(data, "confirm", required=False, limit=200) != name:
        raise InvalidInputError(
            f"type the tool's name ({name}) to remove it", details={"path": "confirm"}
        )
    return await _submit(request, OperationKind.REMOVE, purge=data.get("purge") == "on")


async def change_config(request: web.Request) -> web.Response:
    data = await form(request)
    name = request.match_info["tool"]
    unset = field(data, "unset", required=False, limit=255)
    if unset:
        values: dict[str, str] = {}
        removed: tuple[str, ...] = (unset,)
    else:
        values, removed = {field(data, "key", limit=255): field(data, "value", required=False)}, ()
    op = await core(
        request,
        machete(request).change_config,
        name,
        values,
        secret=data.get("secret") == "on",
        unset=removed,
        actor=actor(request),
    )
    if op is None:
        return see_other(f"/tool/{name}?notice=saved#config")
    start_operation(request, op)
    return see_other(f"/operation/{op.id}")


async def change_settings(request: web.Request) -> web.Response:
    data = await form(request)
    name = request.match_info["tool"]
    builder = field(data, "builder", required=False, limit=64)
    await core(
        request,
        machete(request).set_flags,
        name,
        enabled=data.get("enabled") == "on",
        auto_start=data.get("auto_start") == "on",
        builder=builder,
    )
    return see_other(f"/tool/{name}?notice=settings#settings")


async def change_access(request: web.Request) -> web.Response:
    data = await form(request)
    name = request.match_info["tool"]
    await core(request, machete(request).set_access, name, field(data, "access", limit=20))
    return see_other(f"/tool/{name}?notice=access#access")


async def change_domains(request: web.Request) -> web.Response:
    """Add ``name`` (with ``tls``), or ``remove`` one."""
    data = await form(request)
    name = request.match_info["tool"]
    domains = machete(request).domains
    gone = field(data, "remove", required=False, limit=253)
    if gone:
        await core(request, domains.remove, name, gone)
    else:
        host = field(data, "name", limit=253)
        await core(request, domains.add, name, host, field(data, "tls", limit=10))
    return see_other(f"/tool/{name}?notice=domains#domains")


async def change_grant(request: web.Request) -> web.Response:
    data = await form(request)
    name = request.match_info["tool"]
    kind = field(data, "kind", limit=10)
    if kind not in ("user", "team"):
        raise InvalidInputError("grant to a user or a team", details={"path": "kind"})
    role = field(data, "role", required=False, limit=20) or None
    subject = field(data, "subject", limit=200)
    await core(request, machete(request).access.grant, name, role, **{kind: subject})
    return see_other(f"/tool/{name}?notice=grants#access")


async def change_hook(request: web.Request) -> web.Response:
    """``change``: enable, disable, rotate (the secret is shown on this answer only) or poll
    (``seconds``, empty for off)."""
    data = await form(request)
    name = request.match_info["tool"]
    hooks = machete(request).hooks
    change = field(data, "change", limit=10)
    if change == "poll":
        text = field(data, "seconds", required=False, limit=6)
        seconds = int_field(text, "seconds", 60, 86400) if text else None
        await core(request, hooks.set_poll, name, seconds)
    elif change in ("enable", "rotate"):
        made = await core(request, hooks.enable if change == "enable" else hooks.rotate, name)
        if isinstance(made, HookSecret):
            return await tool_page(request, secret=made.secret, status=201)
    elif change == "disable":
        await core(request, hooks.disable, name)
    else:
        raise InvalidInputError(f"no change {change!r}", details={"path": "change"})
    return see_other(f"/tool/{name}?notice=hook#hook")


async def add_channel(request: web.Request) -> web.Response:
    """A channel subscribed for the tool; a webhook's secret is shown on this answer only."""
    name = request.match_info["tool"]
    added = await added_channel(request, name)
    if added.secret:
        return await tool_page(request, channel_secret=added.secret, status=201)
    return see_other(f"/tool/{name}?notice=notifications#notifications")
