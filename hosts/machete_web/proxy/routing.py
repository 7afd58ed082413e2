"""Which tool a request is for (by host, else by path) and where that tool runs now; the
keys the tools application shares with its handlers."""

from __future__ import annotations

import asyncio

import attrs
from aiohttp import web

from machete_core.errors import MacheteError
from machete_core.settings import Settings
from machete_core.views import Route
from machete_web import hosts
from machete_web.keys import BACKGROUND_TASKS, EXECUTOR, MACHETE, PLATFORM, ROUTER


@attrs.frozen
class Target:
    """One request's tool and the path it is forwarded with (raw, exactly as received)."""

    tool: str
    raw_path: str
    prefix: str


def target_for(request: web.Request, settings: Settings) -> Target | None:
    """``<tool>.<tools_domain>`` routes the whole path to the tool; else ``/tools/<tool>/``."""
    raw = request.raw_path
    tool = hosts.tool_from_host(request.host, settings.tools_domain)
    if tool is not None:
        return Target(tool=tool, raw_path=raw if raw.startswith("/") else "/" + raw, prefix="")
    path, sep, query = raw.partition("?")
    if not path.startswith("/tools/"):
        return None
    rest = path[len("/tools/") :]
    name, _slash, tail = rest.partition("/")
    if not name or "%" in name:
        return None
    return Target(tool=name, raw_path="/" + tail + sep + query, prefix=f"/tools/{name}")


#: The route a request was given: looked up once per request, whoever asks (the access check,
#: then the forwarding), so both act on the same one.
ROUTED = web.RequestKey("routed", Route)


async def route(request: web.Request, tool: str, fresh: bool = False) -> Route:
    """:func:`lookup`, once per request (``fresh`` asks again)."""
    known = request.get(ROUTED)
    if known is not None and known.tool == tool and not fresh:
        return known
    found = await lookup(request, tool, fresh)
    request[ROUTED] = found
    return found


async def lookup(request: web.Request, tool: str, fresh: bool = False) -> Route:
    """Where ``tool`` runs. A route older than the cache time is still used while a fresh one
    is looked up in the background, so requests never wait on the engine; a switch of
    release invalidates the entry at once (events), and a refused connection asks afresh."""
    platform = request.app[PLATFORM]
    router = platform[ROUTER]
    if fresh:
        router.forget(tool)
    cached = router.cached(tool)
    if cached is not None:
        return cached
    stale = router.stale(tool)
    loop = asyncio.get_running_loop()
    if stale is None:
        mark = router.mark(tool)
        found = await loop.run_in_executor(platform[EXECUTOR], platform[MACHETE].route, tool)
        router.remember(found, since=mark)
        return found
    if not router.refreshing(tool):
        task = asyncio.create_task(_refresh(platform, tool))
        platform[BACKGROUND_TASKS].add(task)
        task.add_done_callback(platform[BACKGROUND_TASKS].discard)
    return stale


async def _refresh(platform: web.Application, tool: str) -> None:
    router = platform[ROUTER]
    mark = router.mark(tool)
    try:
        loop = asyncio.get_running_loop()
        found = await loop.run_in_executor(platform[EXECUTOR], platform[MACHETE].route, tool)
        router.remember(found, since=mark)
    except MacheteError:
        router.forget(tool)  # gone or stopped: the next request finds out and says so
    finally:
        router.refreshed(tool)
