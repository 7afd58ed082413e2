"""The dashboard's notification forms: an admin's channels on the Settings page, a tool's on
its page (its maintainers), and each channel's test, on/off and removal. The core decides who
may touch which channel, as for the API."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from machete_core.errors import InvalidInputError
from machete_core.machete import Machete
from machete_core.notify.channels import ChannelAdded
from machete_core.notify.kinds import CHANNEL_KINDS, NOTICES
from machete_web.api.common import machete
from machete_web.dashboard.pages import field, form, see_other
from machete_web.keys import core

#: What the add form offers (the templates read it).
FORM_CHOICES = {"kinds": CHANNEL_KINDS, "notices": NOTICES}


def setup(app: web.Application) -> None:
    # The add forms are the Settings page's (admin.py) and the tool page's (tool.py).
    app.router.add_post("/notifications/{channel}", change)


def channels_with_deliveries(m: Machete, tool: str | None) -> list[dict[str, Any]]:
    """Each channel (the instance's, or the tool's) with its five newest notifications."""
    return [
        {"channel": c, "deliveries": m.notifications.deliveries(c.name, 5)}
        for c in m.notifications.channels(tool)
    ]


async def added_channel(request: web.Request, tool: str | None) -> ChannelAdded:
    """The add form's channel: the instance's (``tool`` None) or the tool's."""
    data = await form(request)
    about = field(data, "tools", required=False, limit=2000) if tool is None else ""
    return await core(
        request,
        machete(request).notifications.add,
        field(data, "name", limit=64),
        field(data, "kind", limit=16),
        field(data, "target", limit=2000),
        events=[e for e in data.getall("events", []) if isinstance(e, str)],
        tools=[t.strip() for t in about.split(",") if t.strip()],
        tool=tool,
    )


async def change(request: web.Request) -> web.Response:
    """``change``: test, enable, disable or remove."""
    data = await form(request)
    name = request.match_info["channel"]
    notes = machete(request).notifications
    channel = await core(request, notes.get, name)
    what = field(data, "change", limit=10)
    if what == "test":
        await core(request, notes.test, name)
    elif what in ("enable", "disable"):
        await core(request, notes.update, name, enabled=what == "enable")
    elif what == "remove":
        await core(request, notes.remove, name)
    else:
        raise InvalidInputError(f"no change {what!r}", details={"path": "change"})
    back = f"/tool/{channel.tool}" if channel.tool else "/settings"
    return see_other(f"{back}?notice=notifications#notifications")
