"""The permission matrix, walked for real: every route of the aiohttp app (read from its
router) x every kind of actor x tool A, tool B and a missing tool -> the status the policy
table says. The expectation is computed from the tables (route_policy.ROUTES and the core's
actions), never hand-written per route; a route without a policy entry, or an entry without a
route, fails the meta-test. The same walk runs over the Python API for the core verbs.

Allowed requests carry no usable body and the tools are busy with a pending operation, so an
allowed request ends in 4xx validation, 409 or a harmless read: the walk changes nothing.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import update

from machete_core.access.actions import SCOPES, action_table
from machete_core.access.principal import ANONYMOUS, Principal
from machete_core.access.roles import Role
from machete_core.errors import AuthenticationError, ForbiddenError, MacheteError
from machete_core.machete import Machete, create_machete
from machete_core.settings import Settings
from machete_core.state.models import TokenRow
from machete_plugins import BUILTIN_PLUGINS
from machete_web import create_app, route_policy
from tests.support.people import PASSWORD, ensure_user, token_for
from tests.support.pointing import PointingPlugin, deployed

A, B, MISSING = "alpha", "beta", "ghost"
ACTIONS = action_table()


@attrs.frozen
class Actor:
    """Who sends the request, described the way the oracle needs it."""

    label: str
    #: None: not signed in (anonymous, or credentials that are no longer good).
    role: Role | None
    grants: dict[str, Role] = attrs.field(factory=dict)
    #: None: a session (a person); else the token's scopes.
    scopes: frozenset[str] | None = None
    tools: frozenset[str] = frozenset()
    token: str | None = None
    #: Credentials that are sent but no longer good (expired, revoked): 401 everywhere.
    stale: bool = False


def tool_role(actor: Actor, tool: str) -> Role | None:
    if tool == MISSING or actor.role is None:
        return None
    if actor.tools and tool not in actor.tools:
        return None
    roles = [actor.role]  # tool_visibility "all": members see every tool
    if tool in actor.grants:
        roles.append(actor.grants[tool])
    return max(roles)


def expected(policy: str, actor: Actor, tool: str | None, by_op: bool) -> int | None:
    """The status the tables say: 401, 403 or 404; None when the request is allowed."""
    if actor.stale:
        return 401  # bad credentials are refused even where none are needed
    if policy == route_policy.PUBLIC:
        return None
    if actor.role is None:
        return 401
    if policy in (route_policy.SIGNED_IN, route_policy.ENROL):
        return None
    if policy == route_policy.PERSON:
        return 403 if actor.scopes is not None else None
    action = ACTIONS[policy]
    if actor.scopes is not None and action.people_only:
        return 403 if tool is None or by_op or tool_role(actor, tool) is not None else 404
    if tool is None:
        if not action.on_tool:
            if actor.role < action.role:
                return 403
            if actor.scopes is not None and actor.tools and action.name != "events.read":
                return 403
        if actor.scopes is not None and action.scope not in actor.scopes:
            return 403
        return None
    if by_op and actor.scopes is not None and action.scope not in actor.scopes:
        return 403  # checked before the operation is looked up
    role = tool_role(actor, tool)
    if role is None:
        return 404
    if role < action.role:
        return 403
    if actor.scopes is not None and action.scope not in actor.scopes:
        return 403
    return None


@pytest.fixture
def machete(settings: Settings) -> Iterator[Machete]:
    m = create_machete(attrs.evolve(settings, api_rate=0.0), builtins=BUILTIN_PLUGINS)
    m.plugins.register(PointingPlugin(), "pointing")
    yield m
    m.close()


@attrs.frozen
class World:
    actors: list[Actor]
    ops: dict[str, str]


def build_world(m: Machete) -> World:
    for name in (A, B):
        deployed(m, name)
    ops = {}
    for name in (A, B):
        # A finished operation is what the {op} routes are asked about...
        done = m.submit("start", name)
        m.store.update_operation(done.id, status="succeeded", finished_at=time.time())
        ops[name] = done.id
        # ...and a pending one keeps each tool busy (its holder, this process, is alive).
        m.submit("restart", name)
    ops[MISSING] = "0" * 32
    actors: list[Actor] = [Actor("anonymous", None)]
    for grant in ("viewer", "operator", "maintainer"):
        name = f"{grant}-of-a"
        text = token_for(m, name, "viewer")
        m.access.grant(A, grant, user=name)
        actors.append(
            Actor(name, Role.VIEWER, {A: Role.parse(grant)}, frozenset(SCOPES), token=text)
        )
    for role in ("admin", "owner"):
        actors.append(
            Actor(role, Role.parse(role), scopes=frozenset(SCOPES), token=token_for(m, role, role))
        )
    for scope in SCOPES:
        actors.append(
            Actor(
                f"owner-token-{scope}",
                Role.OWNER,
                scopes=frozenset({scope}),
                token=token_for(m, "owner", "owner", scopes=(scope,)),
            )
        )
    demoted = token_for(m, "demoted", "admin")
    m.access.set_role("demoted", "viewer")
    actors.append(
        Actor("demoted-after-issue", Role.VIEWER, scopes=frozenset(SCOPES), token=demoted)
    )
    expired = token_for(m, "expired", "owner")
    with m.store.engine.begin() as conn:
        conn.execute(
            update(TokenRow)
            .where(TokenRow.public_id == expired.split("_")[2])
            .values(expires_at=1.0)
        )
    actors.append(Actor("expired-token", None, token=expired, stale=True))
    revoked = token_for(m, "revoked", "owner")
    m.access.revoke_token(revoked.split("_")[2])
    actors.append(Actor("revoked-token", None, token=revoked, stale=True))
    m.access.add_user("ci", "operator", service=True)
    ci, _ = m.access.create_token("ci", SCOPES, tools=(B,), user="ci")
    actors.append(
        Actor(
            "service-account-on-b",
            Role.OPERATOR,
            scopes=frozenset(SCOPES),
            tools=frozenset({B}),
            token=ci,
        )
    )
    return World(actors, ops)


def routes(app: Any) -> list[tuple[str, str]]:
    found = set()
    for resource in app.router.resources():
        for route in resource:
            if route.method == "HEAD":
                continue
            found.add((route.method, resource.canonical))
    return sorted(found)


def test_every_route_has_a_policy_and_every_policy_a_route(machete: Machete) -> None:
    served = set(routes(create_app(machete=machete)))
    assert served - set(route_policy.ROUTES) == set(), "routes without a policy entry"
    assert set(route_policy.ROUTES) - served == set(), "policy entries without a route"
    for policy in route_policy.ROUTES.values():
        assert policy in ACTIONS or policy in (
            route_policy.PUBLIC,
            route_policy.SIGNED_IN,
            route_policy.ENROL,
            route_policy.PERSON,
        ), policy


def fill(path: str, tool: str, op: str) -> str:
    values = {
        "tool": tool,
        "op": op,
        "action": "restart",
        "key": "SOME_KEY",
        "kind": "user",
        "name": "nobody",
        "user": "nobody",
        "team": "nobody",
        "token": "nope",
        "tail": "x",
        "digest": "0" * 16,
        "hook": "no-such-hook",
        "channel": "no-such-channel",
    }
    return re.sub(r"\{(\w+)(?::[^}]*)?\}", lambda m: values[m.group(1)], path)


def cases(world: World) -> Iterator[tuple[str, str, str, bool, str]]:
    for method, path in sorted(route_policy.ROUTES):
        by_op = "{op}" in path
        if "{tool}" in path or by_op:
            for target in (A, B, MISSING):
                yield method, path, target, by_op, fill(path, target, world.ops[target])
        else:
            yield method, path, "", False, fill(path, A, world.ops[A])


async def send(client: TestClient, method: str, url: str, headers: dict[str, str]) -> Any:
    verb = "GET" if method == "*" else method
    async with client.request(
        verb,
        url,
        headers=headers,
        allow_redirects=False,
        json=None if verb in ("GET", "DELETE") else {},
    ) as resp:
        if resp.status == 303 and resp.headers["Location"].startswith("/sign-in?next="):
            return 401, b"to the sign-in page"  # how a page says "sign in first"
        if resp.content_type == "text/event-stream":
            # A live stream (allowed) does not end: its status is the answer.
            resp.close()
            return resp.status, b""
        body = await resp.read()
        return resp.status, body


async def test_the_route_matrix(aiohttp_client: Any, machete: Machete) -> None:
    world = build_world(machete)
    client = await aiohttp_client(create_app(machete=machete))
    failures = []
    count = 0
    for actor in world.actors:
        headers = {"Authorization": f"Bearer {actor.token}"} if actor.token else {}
        for method, path, target, by_op, url in cases(world):
            policy = route_policy.ROUTES[(method, path)]
            want = expected(policy, actor, target or None, by_op)
            if (method, path) in route_policy.LOOPBACK and not actor.stale:
                # The test client is on loopback: those routes need no credentials from there
                # (test_metrics.py checks them from another address, through a proxy).
                want = None
            status, body = await send(client, method, url, headers)
            count += 1
            if want is None:
                denied = status in (401, 403) or (
                    status == 404
                    and target != MISSING
                    and (b"tool_not_found" in body or b"operation_not_found" in body)
                )
                # A missing tool or operation is a 404 for whoever may look.
                if denied and not (target == MISSING and status == 404):
                    failures.append(
                        f"{actor.label} {method} {url}: {status} {body[:120]!r}, "
                        "expected to be allowed"
                    )
            elif target == MISSING and want in (403, 404) and status == 404:
                continue  # existence is checked before the role on a missing target
            elif status != want:
                failures.append(
                    f"{actor.label} {method} {url}: {status} {body[:120]!r}, expected {want}"
                )
    assert count > 1000
    assert failures == [], "\n".join(failures[:40]) + f"\n({len(failures)} in all)"


async def test_a_session_after_a_password_change_is_signed_out(
    aiohttp_client: Any, machete: Machete
) -> None:
    """The stale-session actor of the matrix: every non-public route answers 401."""
    deployed(machete, A)
    ensure_user(machete, "changer", "owner")
    client = await aiohttp_client(create_app(machete=machete))
    origin = {"Origin": f"http://{client.server.host}:{client.server.port}"}
    cookies = []
    for _ in range(2):
        client.session.cookie_jar.clear()
        resp = await client.post(
            "/api/auth/login", json={"username": "changer", "password": PASSWORD}
        )
        assert resp.status == 200
        cookies.append(resp.cookies["machete_session"].value)
    assert cookies[0] != cookies[1]  # a new id on every sign-in
    client.session.cookie_jar.clear()
    old = {**origin, "Cookie": f"machete_session={cookies[0]}"}
    new = {**origin, "Cookie": f"machete_session={cookies[1]}"}
    resp = await client.post(
        "/api/auth/password", json={"current": PASSWORD, "new": "x" * 16}, headers=new
    )
    assert resp.status == 200, await resp.text()
    new = {**origin, "Cookie": f"machete_session={resp.cookies['machete_session'].value}"}
    for (method, path), policy in sorted(route_policy.ROUTES.items()):
        client.session.cookie_jar.clear()  # only the cookie of the header is sent
        status, _body = await send(client, method, fill(path, A, "0" * 32), old)
        # A stale session is no session: loopback routes answer anonymous clients there.
        if policy != route_policy.PUBLIC and (method, path) not in route_policy.LOOPBACK:
            assert status == 401, (method, path, status, _body)
    assert (await client.get("/api/auth/me", headers=new)).status == 200


# -- the same truth through the Python API ----------------------------------------------------

CORE_VERBS: dict[str, tuple[str, Callable[[Machete, str], Any]]] = {
    "get": ("tools.read", lambda m, t: m.get(t, probe_health=False)),
    "releases": ("tools.read", lambda m, t: m.releases(t)),
    "health_history": ("tools.read", lambda m, t: m.health_history(t)),
    "operations": ("tools.read", lambda m, t: m.operations(t)),
    "config": ("tools.config", lambda m, t: m.config(t)),
    "set_flags": ("tools.config", lambda m, t: m.set_flags(t)),
    "restart": ("tools.operate", lambda m, t: m.submit("restart", t)),
    "stop": ("tools.operate", lambda m, t: m.submit("stop", t)),
    "remove": ("tools.remove", lambda m, t: m.submit("remove", t)),
    "grants": ("tools.grants", lambda m, t: m.access.grants(t)),
    "log_follower": ("tools.logs", lambda m, t: m.tool_log_follower(t).close()),
}


def test_the_matrix_over_the_python_api(machete: Machete) -> None:
    world = build_world(machete)
    failures = []
    for actor in world.actors:
        principal: Principal | None = None
        if actor.token is not None:
            try:
                principal = machete.auth.from_token(actor.token)
            except AuthenticationError:
                principal = None
        for verb, (action, call) in CORE_VERBS.items():
            for target in (A, B, MISSING):
                want = expected(action, actor, target, False) if principal else 401
                acting = machete.acting_as(principal or ANONYMOUS)
                try:
                    call(acting, target)
                    got = None
                except AuthenticationError:
                    got = 401
                except ForbiddenError:
                    got = 403
                except MacheteError as exc:
                    got = 404 if exc.code == "tool_not_found" else None
                if target == MISSING and got == 404:
                    continue
                if got != want:
                    failures.append(f"{actor.label} {verb}({target}): {got}, expected {want}")
    assert failures == [], "\n".join(failures)
