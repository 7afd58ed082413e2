"""``/api/users``, ``/api/teams``, ``/api/tools/{tool}/grants``, ``/api/tokens`` and
``/api/audit``: people and programs, managed through the core's ``AccessAdmin`` (which
authorizes each call and writes the audit log)."""

from __future__ import annotations

import time
from typing import Any

import attrs
from aiohttp import web

from machete_core.access.audit import as_data, json_lines
from machete_core.errors import InvalidInputError
from machete_core.state.people_views import (
    UserRecord,
    token_summary,
    user_summary,
)
from machete_web.api.common import body, int_query, machete
from machete_web.keys import core


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/users", list_users)
    r.add_post("/api/users", add_user)
    r.add_patch("/api/users/{user}", patch_user)
    r.add_post("/api/users/{user}/password", reset_password)
    r.add_get("/api/teams", list_teams)
    r.add_post("/api/teams", add_team)
    r.add_delete("/api/teams/{team}", delete_team)
    r.add_put("/api/teams/{team}/members/{user}", membership)
    r.add_delete("/api/teams/{team}/members/{user}", membership)
    r.add_get("/api/tools/{tool}/grants", list_grants)
    r.add_put("/api/tools/{tool}/grants", put_grant)
    r.add_delete("/api/tools/{tool}/grants/{kind}/{name}", delete_grant)
    r.add_get("/api/tokens", list_tokens)
    r.add_post("/api/tokens", create_token)
    r.add_delete("/api/tokens/{token}", revoke_token)
    r.add_get("/api/audit", audit)


def user_data(user: UserRecord) -> dict[str, Any]:
    return user_summary(user)


def _str(data: dict[str, Any], key: str, required: bool = True) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > 4096:
        raise InvalidInputError(f"'{key}' must be a non-empty string", details={"path": key})
    return value


def _strings(data: dict[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInputError(f"'{key}' must be a list of strings", details={"path": key})
    return tuple(value)


async def list_users(request: web.Request) -> web.Response:
    users = await core(request, machete(request).access.users)
    return web.json_response({"users": [user_data(u) for u in users]})


async def add_user(request: web.Request) -> web.Response:
    """``{"name", "role", "password"?, "service": false}``."""
    data = await body(request)
    user = await core(
        request,
        machete(request).access.add_user,
        _str(data, "name"),
        _str(data, "role"),
        password=_str(data, "password", required=False),
        service=data.get("service") is True,
    )
    return web.json_response({"user": user_data(user)}, status=201)


async def patch_user(request: web.Request) -> web.Response:
    """``{"role"?, "disabled"?}``."""
    data = await body(request)
    admin = machete(request).access
    name = request.match_info["user"]
    if set(data) - {"role", "disabled"} or not data:
        raise InvalidInputError("give 'role' and/or 'disabled'")
    user = None
    if "role" in data:
        user = await core(request, admin.set_role, name, _str(data, "role"))
    if "disabled" in data:
        if not isinstance(data["disabled"], bool):
            raise InvalidInputError(
                "'disabled' must be true or false", details={"path": "disabled"}
            )
        user = await core(request, admin.set_disabled, name, data["disabled"])
    assert user is not None
    return web.json_response({"user": user_data(user)})


async def reset_password(request: web.Request) -> web.Response:
    data = await body(request)
    user = await core(
        request,
        machete(request).access.reset_password,
        request.match_info["user"],
        _str(data, "password"),
    )
    return web.json_response({"user": user_data(user)})


async def list_teams(request: web.Request) -> web.Response:
    teams = await core(request, machete(request).access.teams)
    return web.json_response(
        {
            "teams": [
                {"name": t.name, "members": list(t.members), "created_at": t.created_at}
                for t in teams
            ]
        }
    )


async def add_team(request: web.Request) -> web.Response:
    data = await body(request)
    team = await core(request, machete(request).access.add_team, _str(data, "name"))
    return web.json_response({"team": {"name": team.name, "members": []}}, status=201)


async def delete_team(request: web.Request) -> web.Response:
    await core(request, machete(request).access.delete_team, request.match_info["team"])
    return web.json_response({"deleted": request.match_info["team"]})


async def membership(request: web.Request) -> web.Response:
    """``PUT`` adds the user to the team, ``DELETE`` takes them out."""
    team, user = request.match_info["team"], request.match_info["user"]
    member = request.method == "PUT"
    await core(request, machete(request).access.set_member, team, user, member)
    return web.json_response({"team": team, "added" if member else "removed": user})


async def list_grants(request: web.Request) -> web.Response:
    grants = await core(request, machete(request).access.grants, request.match_info["tool"])
    return web.json_response({"grants": [attrs.asdict(g) for g in grants]})


async def put_grant(request: web.Request) -> web.Response:
    """``{"user" | "team", "role"}``."""
    data = await body(request)
    tool = request.match_info["tool"]
    await core(
        request,
        machete(request).access.grant,
        tool,
        _str(data, "role"),
        user=_str(data, "user", required=False),
        team=_str(data, "team", required=False),
    )
    grants = await core(request, machete(request).access.grants, tool)
    return web.json_response({"grants": [attrs.asdict(g) for g in grants]})


async def delete_grant(request: web.Request) -> web.Response:
    kind, name = request.match_info["kind"], request.match_info["name"]
    if kind not in ("user", "team"):
        raise web.HTTPNotFound()
    await core(
        request, machete(request).access.grant, request.match_info["tool"], None, **{kind: name}
    )
    return web.json_response({"revoked": f"{kind}:{name}"})


async def list_tokens(request: web.Request) -> web.Response:
    user = request.query.get("user") or None
    found = await core(request, machete(request).access.tokens, user)
    return web.json_response({"tokens": [token_summary(t) for t in found]})


async def create_token(request: web.Request) -> web.Response:
    """``{"name", "scopes": [...], "tools"?: [...], "expires_days"?, "user"?}``; the token
    text is in this answer only."""
    data = await body(request)
    days = data.get("expires_days")
    if days is not None and (not isinstance(days, int) or isinstance(days, bool)):
        raise InvalidInputError(
            "'expires_days' must be an integer", details={"path": "expires_days"}
        )
    text, record = await core(
        request,
        machete(request).access.create_token,
        _str(data, "name"),
        _strings(data, "scopes"),
        tools=_strings(data, "tools"),
        expires_days=days,
        user=_str(data, "user", required=False),
    )
    return web.json_response({"token": text, "record": token_summary(record)}, status=201)


async def revoke_token(request: web.Request) -> web.Response:
    await core(request, machete(request).access.revoke_token, request.match_info["token"])
    return web.json_response({"revoked": request.match_info["token"]})


async def audit(request: web.Request) -> web.StreamResponse:
    """``?tool=&actor=&since=SECONDS_AGO_OR_EPOCH&after=ID&limit=&format=jsonl``."""
    since_raw = request.query.get("since")
    since = None
    if since_raw:
        try:
            value = float(since_raw)
        except ValueError:
            raise InvalidInputError("'since' is a UNIX time", details={"path": "since"}) from None
        since = value if value > 1e9 else time.time() - value
    rows = await core(
        request,
        machete(request).access.audit,
        tool=request.query.get("tool") or None,
        actor=request.query.get("actor") or None,
        since=since,
        after_id=int_query(request, "after", 0, 0, 2**62),
        limit=int_query(request, "limit", 1000, 1, 100_000),
    )
    if request.query.get("format") == "jsonl":
        return web.Response(text="".join(json_lines(rows)), content_type="application/x-ndjson")
    return web.json_response({"audit": [as_data(r) for r in rows]})
