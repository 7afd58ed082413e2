"""REST handlers: each validates input, makes one core call in the pool, renders JSON."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

from machete_core.domain.operations import SYSTEM_API
from machete_core.errors import (
    ArchiveTooLargeError,
    InvalidInputError,
    MacheteError,
    ToolBusyError,
    UploadTimeoutError,
)
from machete_core.machete import Machete, check_replicas
from machete_core.secrets import Credentials
from machete_core.sources.uploads import check_upload_space, uploads_dir
from machete_core.state.views import OperationRecord
from machete_core.version import __version__
from machete_core.views import to_data
from machete_web.app import LISTING, MACHETE, core, run_in_background

ACTIONS = ("build", "start", "stop", "restart", "deploy", "rollback", "scale")


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/health", health)
    r.add_get("/api/health/", health)
    r.add_get("/api/health/db", health_db)
    r.add_get("/health", health)
    r.add_get("/api/plugins", plugins)
    r.add_get("/api/tools", list_tools)
    r.add_get("/api/tools/", list_tools)
    r.add_post("/api/tools", install)
    r.add_post("/api/tools/", install)
    r.add_post("/api/tools/install", install_original)
    r.add_get("/api/tools/{tool}", get_tool)
    r.add_patch("/api/tools/{tool}", patch_tool)
    r.add_delete("/api/tools/{tool}", delete_tool)
    r.add_get("/api/tools/{tool}/status", tool_status)
    r.add_get("/api/tools/{tool}/health", tool_health)
    r.add_get("/api/tools/{tool}/health/history", tool_health_history)
    r.add_get("/api/tools/{tool}/logs", tool_logs)
    r.add_get("/api/tools/{tool}/releases", tool_releases)
    r.add_get("/api/tools/{tool}/operations", tool_operations)
    r.add_get("/api/tools/{tool}/config", get_config)
    r.add_put("/api/tools/{tool}/config", put_config)
    r.add_delete("/api/tools/{tool}/config/{key}", delete_config)
    r.add_post("/api/tools/{tool}/{action}", tool_action)
    r.add_get("/api/operations", list_operations)
    r.add_get("/api/operations/{op}", get_operation)
    r.add_get("/api/operations/{op}/log", operation_log)
    r.add_post("/api/operations/{op}/cancel", cancel_operation)


def _m(request: web.Request) -> Machete:
    return request.app[MACHETE]


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidInputError("the request body is not UTF-8") from None
    except RecursionError:
        raise InvalidInputError("the request body is nested too deeply") from None
    if not isinstance(data, dict):
        raise InvalidInputError("the request body must be a JSON object")
    return data


def _opt_str(data: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = data.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise InvalidInputError(f"'{key}' must be a string")
        return value
    return None


def _credentials(data: dict[str, Any]) -> Credentials | None:
    """``{"credentials": {"username"?, "password"}}`` or ``{"credentials": {"token"}}``."""
    raw = data.get("credentials")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidInputError("'credentials' must be an object")
    secret = _opt_str(raw, "password", "token")
    if secret is None:
        raise InvalidInputError("'credentials' needs a 'password' or a 'token'")
    return Credentials(username=_opt_str(raw, "username") or "git", password=secret)


def _opt_bool(data: dict[str, Any], key: str) -> bool | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise InvalidInputError(f"'{key}' must be true or false")
    return value


def _accepted(request: web.Request, op: OperationRecord, message: str) -> web.Response:
    m = _m(request)

    def work() -> None:
        try:
            m.run(op.id)
        except MacheteError:
            pass  # recorded on the operation; clients read it there

    run_in_background(request.app, work)
    return web.json_response(
        {
            "success": True,
            "message": message,
            "operation_id": op.id,
            "operation": to_data(op),
            "links": {
                "operation": f"/api/operations/{op.id}",
                "log": f"/api/operations/{op.id}/log",
            },
        },
        status=202,
    )


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "version": __version__})


async def health_db(request: web.Request) -> web.Response:
    m = _m(request)
    await core(request, m.store.list_operations, None, 1)
    return web.json_response({"status": "ok", "database": m.store.engine.dialect.name})


async def plugins(request: web.Request) -> web.Response:
    return web.json_response({"plugins": await core(request, _m(request).plugin_report)})


async def list_tools(request: web.Request) -> web.Response:
    body = await request.app[LISTING].body()
    return web.Response(body=body, content_type="application/json")


ARCHIVE_TYPES = {
    "application/gzip",
    "application/x-gzip",
    "application/x-tar",
    "application/zip",
    "application/x-xz",
    "application/x-bzip2",
    "application/octet-stream",
}


async def _spool(request: web.Request) -> Path:
    """Receive the upload on the event loop into a spool file, before any core thread is
    used: a slow client holds a socket and a file, never one of the few core workers. Each read
    must arrive within ``MACHETE_UPLOAD_IDLE_TIMEOUT``, the whole within ``..._UPLOAD_TIMEOUT``,
    and the body may not pass ``MACHETE_ARCHIVE_MAX_BYTES`` or leave the disk too full."""
    settings = _m(request).settings
    expected = request.content_length
    if expected is not None and expected > settings.archive_max_bytes:
        raise ArchiveTooLargeError(f"the upload is larger than {settings.archive_max_bytes} bytes")
    check_upload_space(settings, expected)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.upload_timeout
    fd, name = tempfile.mkstemp(prefix=".incoming-spool-", dir=uploads_dir(settings))
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while True:
                left = deadline - loop.time()
                if left <= 0:
                    raise UploadTimeoutError(
                        f"the upload took longer than {settings.upload_timeout:g} s"
                    )
                try:
                    chunk = await asyncio.wait_for(
                        request.content.readany(), min(settings.upload_idle_timeout, left)
                    )
                except TimeoutError:
                    raise UploadTimeoutError(
                        "the upload stalled: nothing arrived for "
                        f"{settings.upload_idle_timeout:g} s"
                    ) from None
                if not chunk:
                    break
                size += len(chunk)
                if size > settings.archive_max_bytes:
                    raise ArchiveTooLargeError(
                        f"the upload is larger than {settings.archive_max_bytes} bytes"
                    )
                out.write(chunk)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def _is_upload(request: web.Request) -> bool:
    # aiohttp reports application/octet-stream when no Content-Type was sent at all.
    return (
        "Content-Type" in request.headers
        and request.content_type in ARCHIVE_TYPES
        and request.body_exists
    )


async def _upload(request: web.Request, **kwargs: Any) -> OperationRecord:
    spooled = await _spool(request)
    try:
        with spooled.open("rb") as fh:
            return await core(request, _m(request).submit_upload, fh, actor=SYSTEM_API, **kwargs)
    finally:
        spooled.unlink(missing_ok=True)


async def install(request: web.Request) -> web.Response:
    if _is_upload(request):
        op = await _upload(
            request,
            name=request.query.get("name") or None,
            filename=request.query.get("filename") or None,
        )
        return _accepted(request, op, "installation started")
    data = await _body(request)
    url = _opt_str(data, "url", "git_url")
    if url is None:
        raise InvalidInputError("'url' is required (a Git URL)")
    op = await core(
        request,
        _m(request).submit_install,
        url,
        name=_opt_str(data, "name"),
        ref=_opt_str(data, "ref", "branch"),
        credentials=_credentials(data),
        actor=SYSTEM_API,
    )
    return _accepted(request, op, "installation started")


async def install_original(request: web.Request) -> web.Response:
    """The original API's ``POST /api/tools/install`` with ``git_url``, ``name``, ``branch``."""
    return await install(request)


async def get_tool(request: web.Request) -> web.Response:
    view = await core(request, _m(request).get, request.match_info["tool"])
    return web.json_response({"tool": to_data(view)})


async def patch_tool(request: web.Request) -> web.Response:
    data = await _body(request)
    unknown = set(data) - {"enabled", "auto_start", "builder"}
    if unknown:
        raise InvalidInputError(f"cannot change {', '.join(sorted(unknown))} here")
    view = await core(
        request,
        _m(request).set_flags,
        request.match_info["tool"],
        enabled=_opt_bool(data, "enabled"),
        auto_start=_opt_bool(data, "auto_start"),
        builder="" if "builder" in data and data["builder"] is None else _opt_str(data, "builder"),
    )
    return web.json_response({"tool": to_data(view)})


#: The longest ``?wait=`` a client may ask for, in seconds.
MAX_WAIT_S = 600
WAIT_POLL_S = 0.25


async def _submit(request: web.Request, kind: str, **params: Any) -> OperationRecord:
    """Submit ``kind`` on the tool of the URL; with ``?wait=SECONDS`` a busy tool is waited
    for (on the event loop, not in a worker thread) instead of answered with 409."""
    wait = _int_query(request, "wait", 0, 0, MAX_WAIT_S)
    deadline = asyncio.get_running_loop().time() + wait
    m = _m(request)
    while True:
        try:
            return await core(
                request, m.submit, kind, request.match_info["tool"], actor=SYSTEM_API, **params
            )
        except ToolBusyError:
            if asyncio.get_running_loop().time() >= deadline:
                raise
            await asyncio.sleep(WAIT_POLL_S)


async def delete_tool(request: web.Request) -> web.Response:
    purge = request.query.get("purge", "").lower() in ("1", "true", "yes")
    op = await _submit(request, "remove", purge=purge)
    return _accepted(request, op, "removal started")


async def tool_action(request: web.Request) -> web.Response:
    action = request.match_info["action"]
    if action not in ACTIONS:
        raise web.HTTPNotFound()
    if action == "deploy" and _is_upload(request):
        op = await _upload(request, tool=request.match_info["tool"])
        return _accepted(request, op, "deploy started")
    data = await _body(request)
    params: dict[str, Any] = {}
    if action == "deploy":
        params["force"] = bool(_opt_bool(data, "force"))
    if action == "rollback":
        wanted = data.get("release")
        if wanted is not None and (not isinstance(wanted, int) or isinstance(wanted, bool)):
            raise InvalidInputError("'release' must be a release number")
        params["release"] = wanted
    if action == "scale":
        params["replicas"] = check_replicas(data.get("replicas"))
    op = await _submit(request, action, **params)
    return _accepted(request, op, f"{action} started")


async def get_config(request: web.Request) -> web.Response:
    entries = await core(request, _m(request).config, request.match_info["tool"])
    return web.json_response({"config": to_data(entries)})


async def _config_changed(request: web.Request, op: OperationRecord | None) -> web.Response:
    if op is not None:
        return _accepted(request, op, "configuration saved; deploying it")
    entries = await core(request, _m(request).config, request.match_info["tool"])
    return web.json_response({"config": to_data(entries), "message": "saved for the next deploy"})


async def put_config(request: web.Request) -> web.Response:
    """``{"values": {"KEY": "value"}, "secret": false}``."""
    data = await _body(request)
    values = data.get("values")
    if not isinstance(values, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in values.items()
    ):
        raise InvalidInputError("'values' must be an object of string keys and string values")
    op = await core(
        request,
        _m(request).change_config,
        request.match_info["tool"],
        values,
        secret=bool(_opt_bool(data, "secret")),
        actor=SYSTEM_API,
    )
    return await _config_changed(request, op)


async def delete_config(request: web.Request) -> web.Response:
    op = await core(
        request,
        _m(request).change_config,
        request.match_info["tool"],
        unset=(request.match_info["key"],),
        actor=SYSTEM_API,
    )
    return await _config_changed(request, op)


async def tool_status(request: web.Request) -> web.Response:
    view = await core(request, _m(request).get, request.match_info["tool"])
    return web.json_response(
        {"name": view.name, "status": view.status, "health": view.health, "reason": view.reason}
    )


async def tool_health(request: web.Request) -> web.Response:
    result = await core(request, _m(request).health, request.match_info["tool"])
    return web.json_response(
        {
            "healthy": result.healthy,
            "status": "healthy" if result.healthy else "unhealthy",
            "status_code": result.status_code,
            "error": result.error,
        }
    )


async def tool_health_history(request: web.Request) -> web.Response:
    limit = _int_query(request, "limit", 100, 1, 1000)
    history = await core(request, _m(request).health_history, request.match_info["tool"], limit)
    return web.json_response({"history": to_data(history)})


def _int_query(request: web.Request, key: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(key)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInputError(f"'{key}' must be an integer") from None
    if not lo <= value <= hi:
        raise InvalidInputError(f"'{key}' must be between {lo} and {hi}")
    return value


async def tool_logs(request: web.Request) -> web.Response:
    tail = _int_query(request, "tail", 100, 0, 100_000)
    m = _m(request)
    lines = await core(request, lambda: list(m.logs(request.match_info["tool"], tail=tail)))
    return web.json_response({"lines": lines})


async def tool_releases(request: web.Request) -> web.Response:
    rels = await core(request, _m(request).releases, request.match_info["tool"])
    return web.json_response({"releases": to_data(rels)})


async def tool_operations(request: web.Request) -> web.Response:
    ops = await core(request, _m(request).operations, request.match_info["tool"])
    return web.json_response({"operations": to_data(ops)})


async def list_operations(request: web.Request) -> web.Response:
    limit = _int_query(request, "limit", 50, 1, 500)
    ops = await core(request, _m(request).operations, None, limit)
    return web.json_response({"operations": to_data(ops)})


async def get_operation(request: web.Request) -> web.Response:
    op = await core(request, _m(request).operation, request.match_info["op"])
    return web.json_response({"operation": to_data(op)})


async def operation_log(request: web.Request) -> web.Response:
    offset = _int_query(request, "offset", 0, 0, 2**62)
    m = _m(request)
    op_id = request.match_info["op"]
    op = await core(request, m.operation, op_id)
    text, next_offset = await core(request, m.operation_log, op_id, offset)
    return web.json_response(
        {"text": text, "offset": offset, "next_offset": next_offset, "done": op.done}
    )


async def cancel_operation(request: web.Request) -> web.Response:
    m = _m(request)
    op = await core(request, m.operation, request.match_info["op"])
    cancelled = await core(request, m.cancel, op.id)
    return web.json_response(
        {"operation_id": op.id, "cancelling": cancelled}, status=202 if cancelled else 409
    )
