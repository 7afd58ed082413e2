"""``/api/tools``: the tools, their state, health, logs and releases, and the actions on them."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from machete_core.domain.operations import OperationKind
from machete_core.domain.spec import ToolOverrides
from machete_core.errors import InvalidInputError, ToolBusyError
from machete_core.secrets import Credentials
from machete_core.state.views import OperationRecord
from machete_core.views import to_data
from machete_web.api.common import accepted, actor, body, body_as, int_query, machete, respond
from machete_web.api.uploads import is_upload, upload
from machete_web.keys import LISTING, core
from machete_web.schemas import (
    ACTIONS,
    ActionRequest,
    HealthHistory,
    InstallRequest,
    LogLines,
    Operations,
    OverridesIn,
    Releases,
    ToolEnvelope,
    ToolHealth,
    ToolPatch,
    ToolStatus,
    parse,
)

#: The longest ``?wait=`` a client may ask for, in seconds.
MAX_WAIT_S = 600
WAIT_POLL_S = 0.25


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/tools", list_tools)
    r.add_post("/api/tools", install)
    r.add_get("/api/tools/{tool}", get_tool)
    r.add_patch("/api/tools/{tool}", patch_tool)
    r.add_delete("/api/tools/{tool}", delete_tool)
    r.add_get("/api/tools/{tool}/status", tool_status)
    r.add_get("/api/tools/{tool}/health", tool_health)
    r.add_get("/api/tools/{tool}/health/history", tool_health_history)
    r.add_get("/api/tools/{tool}/logs", tool_logs)
    r.add_get("/api/tools/{tool}/releases", tool_releases)
    r.add_get("/api/tools/{tool}/operations", tool_operations)
    r.add_put("/api/tools/{tool}/access", put_access)
    r.add_post("/api/tools/{tool}/{action}", tool_action)


async def list_tools(request: web.Request) -> web.Response:
    m = machete(request)
    if m.sees_every_tool():
        # Sees every tool: the shared rendered listing.
        body_bytes = await request.app[LISTING].get()
        return web.Response(body=body_bytes, content_type="application/json")
    views = await core(request, m.list_tools)
    return web.json_response({"tools": to_data(views)})


async def put_access(request: web.Request) -> web.Response:
    """``{"access": "public" | "members" | "granted"}``: who may open the tool's pages."""
    data = await body(request)
    access = data.get("access")
    if not isinstance(access, str):
        raise InvalidInputError("'access' must be a string", details={"path": "access"})
    view = await core(request, machete(request).set_access, request.match_info["tool"], access)
    return respond(ToolEnvelope(view))


def _credentials(given: InstallRequest) -> Credentials | None:
    if given.credentials is None:
        return None
    secret = given.credentials.password or given.credentials.token
    if not secret:
        raise InvalidInputError(
            "'credentials' needs a 'password' or a 'token'", details={"path": "$.credentials"}
        )
    return Credentials(username=given.credentials.username or "git", password=secret)


async def install(request: web.Request) -> web.Response:
    if is_upload(request):
        op = await upload(
            request,
            name=request.query.get("name") or None,
            filename=request.query.get("filename") or None,
            overrides=_query_overrides(request),
        )
        return accepted(request, op, "installation started")
    return await install_from(request, await body(request))


def _query_overrides(request: web.Request) -> ToolOverrides:
    """An upload's body is the archive, so its settings come in the query: ``?port=8080&
    health_path=/hc&subdir=&dockerfile=&target=&build_arg=KEY=VALUE`` (repeatable)."""
    q = request.query
    data: dict[str, Any] = {
        k: q[k] for k in ("health_path", "subdir", "dockerfile", "target") if k in q
    }
    if "port" in q:
        data["port"] = int_query(request, "port", 0, 1, 65535)
    build_args = {}
    for item in q.getall("build_arg", []):
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidInputError(f"{item!r} is not KEY=VALUE", details={"path": "build_arg"})
        build_args[key] = value
    if build_args:
        data["build_args"] = build_args
    return parse(OverridesIn, data).record()


async def install_from(request: web.Request, data: dict[str, Any]) -> web.Response:
    given = parse(InstallRequest, data)
    op = await core(
        request,
        machete(request).submit_install,
        given.url,
        name=given.name,
        ref=given.ref,
        credentials=_credentials(given),
        overrides=given.record(),
        actor=actor(request),
    )
    return accepted(request, op, "installation started")


async def get_tool(request: web.Request) -> web.Response:
    view = await core(request, machete(request).get, request.match_info["tool"])
    return respond(ToolEnvelope(view))


async def patch_tool(request: web.Request) -> web.Response:
    data = await body(request)
    patch = parse(ToolPatch, data)
    # null asks for the installation's default builder; absent leaves it as it is.
    builder = "" if "builder" in data and data["builder"] is None else patch.builder
    m = machete(request)
    overrides = patch.record()
    if overrides != ToolOverrides() or patch.clear:
        await core(
            request,
            m.set_overrides,
            request.match_info["tool"],
            overrides,
            clear=tuple(patch.clear or ()),
        )
    view = await core(
        request,
        machete(request).set_flags,
        request.match_info["tool"],
        enabled=patch.enabled,
        auto_start=patch.auto_start,
        builder=builder,
    )
    return respond(ToolEnvelope(view))


async def submit(request: web.Request, kind: OperationKind, **params: Any) -> OperationRecord:
    """Submit ``kind`` on the tool of the URL; with ``?wait=SECONDS`` a busy tool is waited
    for (on the event loop, not in a worker thread) instead of answered with 409."""
    wait = int_query(request, "wait", 0, 0, MAX_WAIT_S)
    deadline = asyncio.get_running_loop().time() + wait
    m = machete(request)
    while True:
        try:
            return await core(
                request, m.submit, kind, request.match_info["tool"], actor=actor(request), **params
            )
        except ToolBusyError:
            if asyncio.get_running_loop().time() >= deadline:
                raise
            await asyncio.sleep(WAIT_POLL_S)


async def delete_tool(request: web.Request) -> web.Response:
    purge = request.query.get("purge", "").lower() in ("1", "true", "yes")
    op = await submit(request, OperationKind.REMOVE, purge=purge)
    return accepted(request, op, "removal started")


async def tool_action(request: web.Request) -> web.Response:
    action = request.match_info["action"]
    if action not in ACTIONS:
        raise web.HTTPNotFound()
    kind = OperationKind(action)
    if kind == OperationKind.DEPLOY and is_upload(request):
        op = await upload(request, tool=request.match_info["tool"])
        return accepted(request, op, "deploy started")
    given = await body_as(request, ActionRequest)
    params: dict[str, Any] = {}
    if kind in (OperationKind.DEPLOY, OperationKind.BUILD):
        params["force"] = given.force
    if kind == OperationKind.ROLLBACK:
        params["release"] = given.release
    if kind == OperationKind.SCALE:
        params["replicas"] = given.replicas
    op = await submit(request, kind, **params)
    return accepted(request, op, f"{action} started")


async def tool_status(request: web.Request) -> web.Response:
    view = await core(request, machete(request).get, request.match_info["tool"])
    return respond(ToolStatus(view.name, view.status, view.health, view.reason))


async def tool_health(request: web.Request) -> web.Response:
    result = await core(request, machete(request).health, request.match_info["tool"])
    status = "healthy" if result.healthy else "unhealthy"
    return respond(ToolHealth(result.healthy, status, result.status_code, result.error))


async def tool_health_history(request: web.Request) -> web.Response:
    limit = int_query(request, "limit", 100, 1, 1000)
    m = machete(request)
    history = await core(request, m.health_history, request.match_info["tool"], limit)
    return respond(HealthHistory(history))


async def tool_logs(request: web.Request) -> web.Response:
    tail = int_query(request, "tail", 100, 0, 100_000)
    m = machete(request)
    lines = await core(request, lambda: list(m.logs(request.match_info["tool"], tail=tail)))
    return respond(LogLines(lines))


async def tool_releases(request: web.Request) -> web.Response:
    rels = await core(request, machete(request).releases, request.match_info["tool"])
    return respond(Releases(rels))


async def tool_operations(request: web.Request) -> web.Response:
    ops = await core(request, machete(request).operations, request.match_info["tool"])
    return respond(Operations(ops))
