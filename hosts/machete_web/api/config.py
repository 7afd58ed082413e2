"""``/api/tools/{tool}/config``: a tool's configuration (secrets shown as ``***``)."""

from __future__ import annotations

from aiohttp import web

from machete_core.state.views import OperationRecord
from machete_web.api.common import accepted, actor, body_as, machete, respond
from machete_web.keys import core
from machete_web.schemas import ConfigChange, ConfigList, ConfigSaved


def setup(app: web.Application) -> None:
    app.router.add_get("/api/tools/{tool}/config", get_config)
    app.router.add_put("/api/tools/{tool}/config", put_config)
    app.router.add_delete("/api/tools/{tool}/config/{key}", delete_config)


async def get_config(request: web.Request) -> web.Response:
    entries = await core(request, machete(request).config, request.match_info["tool"])
    return respond(ConfigList(entries))


async def _changed(request: web.Request, op: OperationRecord | None) -> web.Response:
    if op is not None:
        return accepted(request, op, "configuration saved; deploying it")
    entries = await core(request, machete(request).config, request.match_info["tool"])
    return respond(ConfigSaved(entries))


async def put_config(request: web.Request) -> web.Response:
    """``{"values": {"KEY": "value"}, "secret": false, "unset": ["KEY"]}``."""
    change = await body_as(request, ConfigChange)
    op = await core(
        request,
        machete(request).change_config,
        request.match_info["tool"],
        change.values,
        secret=change.secret,
        unset=tuple(change.unset),
        actor=actor(request),
    )
    return await _changed(request, op)


async def delete_config(request: web.Request) -> web.Response:
    op = await core(
        request,
        machete(request).change_config,
        request.match_info["tool"],
        unset=(request.match_info["key"],),
        actor=actor(request),
    )
    return await _changed(request, op)
