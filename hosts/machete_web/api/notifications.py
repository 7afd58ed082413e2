"""``/api/notifications`` (the instance's channels, admins) and
``/api/tools/{tool}/notifications`` (a tool's, its maintainers); each channel's change,
test and deliveries under ``/api/notifications/{channel}`` (the core decides who may: a
channel one may not manage answers 404 like one that does not exist)."""

from __future__ import annotations

from aiohttp import web

from machete_web.api.common import body_as, int_query, machete, respond
from machete_web.keys import core
from machete_web.schemas import (
    ChannelCreate,
    ChannelEnvelope,
    ChannelList,
    ChannelPatch,
    ChannelWithSecret,
    NotificationDeliveries,
    TestQueued,
)

C = "/api/notifications/{channel}"


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/notifications", list_instance)
    r.add_post("/api/notifications", add_instance)
    # Before the tools module: POST /api/tools/{tool}/{action} would take this path.
    r.add_get("/api/tools/{tool}/notifications", list_tool)
    r.add_post("/api/tools/{tool}/notifications", add_tool)
    r.add_get(C, show)
    r.add_patch(C, change)
    r.add_delete(C, remove)
    r.add_post(C + "/test", test)
    r.add_get(C + "/deliveries", deliveries)


async def list_instance(request: web.Request) -> web.Response:
    found = await core(request, machete(request).notifications.channels)
    return respond(ChannelList(found))


async def list_tool(request: web.Request) -> web.Response:
    found = await core(request, machete(request).notifications.channels, request.match_info["tool"])
    return respond(ChannelList(found))


async def _add(request: web.Request, tool: str | None) -> web.Response:
    given = await body_as(request, ChannelCreate)
    added = await core(
        request,
        machete(request).notifications.add,
        given.name,
        given.kind,
        given.target,
        events=given.events,
        tools=given.tools,
        tool=tool,
    )
    return respond(ChannelWithSecret(added.channel, added.secret), status=201)


async def add_instance(request: web.Request) -> web.Response:
    return await _add(request, None)


async def add_tool(request: web.Request) -> web.Response:
    return await _add(request, request.match_info["tool"])


async def show(request: web.Request) -> web.Response:
    found = await core(request, machete(request).notifications.get, request.match_info["channel"])
    return respond(ChannelEnvelope(found))


async def change(request: web.Request) -> web.Response:
    given = await body_as(request, ChannelPatch)
    found = await core(
        request,
        machete(request).notifications.update,
        request.match_info["channel"],
        enabled=given.enabled,
        events=given.events,
    )
    return respond(ChannelEnvelope(found))


async def remove(request: web.Request) -> web.Response:
    name = request.match_info["channel"]
    await core(request, machete(request).notifications.remove, name)
    return web.json_response({"removed": name})


async def test(request: web.Request) -> web.Response:
    name = request.match_info["channel"]
    queued = await core(request, machete(request).notifications.test, name)
    return respond(TestQueued(queued, f"a test notification to {name} is queued"), status=202)


async def deliveries(request: web.Request) -> web.Response:
    limit = int_query(request, "limit", 50, 1, 500)
    found = await core(
        request, machete(request).notifications.deliveries, request.match_info["channel"], limit
    )
    return respond(NotificationDeliveries(found))
