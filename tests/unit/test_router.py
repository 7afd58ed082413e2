"""The route cache of the proxies: what a switch of release does to it, told by the server
with the new route or heard from the event log, and lookups that race a switch."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from attrs import evolve

from machete_core.domain.operations import SYSTEM
from machete_core.domain.records import Endpoint
from machete_core.errors import ToolUnavailableError
from machete_core.events import EventBus
from machete_core.state.views import EventRecord
from machete_core.views import Route, to_data
from machete_web.event_feed import EventFeed
from machete_web.proxy.supervisor import ListenerProcess
from machete_web.proxy.worker import ServerPipe
from machete_web.router import Router

OLD = Route(tool="wiki", release=3, endpoint=Endpoint("10.0.0.3", 8080), strip_prefix=True)
NEW = Route(
    tool="wiki",
    release=4,
    endpoint=Endpoint("10.0.0.4", 8080),
    strip_prefix=False,
    read_timeout=12.5,
    access="granted",
)


def recorded(kind: str, tool: str, **data: Any) -> EventRecord:
    return EventRecord(7, 0.0, kind, tool, None, data, SYSTEM)


def router_with(route: Route) -> Router:
    router = Router(machete=None, ttl=60.0)  # type: ignore[arg-type]  # never looks up here
    router.remember(route)
    return router


def test_a_release_told_with_its_route_is_served_at_once_without_a_lookup() -> None:
    router = router_with(OLD)
    router.heard("release.live", "wiki", {"release": 4, "route": to_data(NEW)})
    assert router.cached("wiki") == NEW


def test_the_logs_copy_of_a_switch_already_served_keeps_the_route() -> None:
    router = router_with(NEW)
    router.on_recorded_event(recorded("release.live", "wiki", release=4, commit="abc"))
    assert router.cached("wiki") == NEW
    # Another release went live (another process's switch): looked up again.
    router.on_recorded_event(recorded("release.live", "wiki", release=5))
    assert router.cached("wiki") is None


def test_other_changes_and_an_unreadable_told_route_forget_the_route() -> None:
    for kind, data in [
        ("tool.stopped", {}),
        ("tool.access", {}),
        ("tool.removed", {}),
        ("release.live", {"release": 4, "route": {"tool": "wiki", "endpoint": "nowhere"}}),
        ("release.live", {"release": 4}),
    ]:
        router = router_with(OLD)
        router.heard(kind, "wiki", data)
        assert router.cached("wiki") is None, kind
    # A told route for another tool than the event's is no route for either.
    router = router_with(OLD)
    router.heard("release.live", "wiki", {"release": 4, "route": to_data(evolve(NEW, tool="blog"))})
    assert router.cached("wiki") is None and router.cached("blog") is None
    router = router_with(OLD)
    router.on_recorded_event(recorded("tool.health", "wiki", health="unhealthy"))
    assert router.cached("wiki") == OLD  # not a change of route


def test_a_lookup_that_raced_a_switch_is_not_remembered() -> None:
    router = router_with(OLD)
    mark = router.mark("wiki")
    router.heard("release.live", "wiki", {"release": 4})  # while the lookup ran
    router.remember(OLD, since=mark)  # what it found: the superseded route
    assert router.cached("wiki") is None
    mark = router.mark("wiki")
    router.remember(NEW, since=mark)
    assert router.cached("wiki") == NEW


class StubMachete:
    """What ``ListenerProcess.follow`` uses of the server's Machete."""

    def __init__(self, route: Route | None) -> None:
        self.events = EventBus()
        self._route = route

    def route(self, tool: str) -> Route:
        if self._route is None:
            raise ToolUnavailableError(f"{tool} is not running")
        return self._route


class StubStdin:
    def __init__(self) -> None:
        self.written = bytearray()

    def write(self, data: bytes) -> None:
        self.written.extend(data)

    def is_closing(self) -> bool:
        return False


class StubProcess:
    returncode = None

    def __init__(self) -> None:
        self.stdin = StubStdin()


async def told_lines(route: Route | None, kind: str, **data: Any) -> list[dict[str, Any]]:
    listener = ListenerProcess.__new__(ListenerProcess)  # no process started: a stub's pipe
    listener.process = StubProcess()  # type: ignore[assignment]
    machete = StubMachete(route)
    unfollow = listener.follow(machete)  # type: ignore[arg-type]
    # Published from a core thread, as the pipeline does.
    await asyncio.to_thread(machete.events.publish, kind, tool="wiki", **data)
    await asyncio.sleep(0)
    unfollow()
    written = bytes(listener.process.stdin.written)  # type: ignore[union-attr]
    return [json.loads(line) for line in written.splitlines()]


async def test_the_server_tells_its_listener_the_new_route_which_it_serves_at_once() -> None:
    lines = await told_lines(NEW, "release.live", release=4, commit="abc")
    assert lines == [{"kind": "release.live", "tool": "wiki", "release": 4, "route": to_data(NEW)}]
    # The listener's side: the line through its pipe into its router.
    router = router_with(OLD)
    feed = EventFeed(machete=None, executor=None)  # type: ignore[arg-type]  # never reads
    feed.listen(router.on_recorded_event)
    pipe = ServerPipe(feed, asyncio.Event(), b"")
    pipe.buffer.extend(json.dumps(lines[0]).encode() + b"\n")
    pipe.lines()
    assert router.cached("wiki") == NEW
    # The log's copy, a poll later, leaves it.
    router.on_recorded_event(recorded("release.live", "wiki", release=4, commit="abc"))
    assert router.cached("wiki") == NEW


async def test_without_a_route_to_tell_the_listener_is_told_to_look_it_up() -> None:
    lines = await told_lines(None, "release.live", release=4)
    assert lines == [{"kind": "release.live", "tool": "wiki", "release": 4}]
    assert await told_lines(NEW, "tool.stopped") == [{"kind": "tool.stopped", "tool": "wiki"}]
    assert await told_lines(NEW, "tool.health", health="ok") == []
