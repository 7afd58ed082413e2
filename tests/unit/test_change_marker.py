"""The store's change marker and the event feed's idle polls: a poll that can know nothing was
recorded skips its query, and nothing recorded by any process is missed."""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor

import pytest

from machete_core import follow
from machete_core.machete import create_machete
from machete_core.settings import Settings
from machete_core.state.db import make_engine, migrate
from machete_core.state.store import Store
from machete_web import event_feed
from machete_web.event_feed import EventFeed


def test_the_marker_changes_with_a_commit_of_another_store(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    mine, theirs = Store(engine), Store(make_engine(database_url))
    try:
        before = mine.change_marker()
        if not database_url.startswith("sqlite"):
            assert before is None  # only a query can tell: pollers always ask
            return
        assert before is not None and mine.change_marker() == before
        theirs.create_tool(name="t", source_kind="git", source_url="https://x/t.git")
        assert mine.change_marker() != before
    finally:
        mine.close()
        theirs.close()


def test_a_cursor_reads_again_only_when_something_may_be_new(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader, writer = create_machete(settings), create_machete(settings)
    try:
        cursor = reader.event_cursor()
        if reader.store.change_marker() is None:  # the PostgreSQL pass: always read
            assert cursor.may_have_new()
            return
        assert not cursor.may_have_new()
        writer.events.publish("tool.custom", tool="t", n=1)  # another process records
        assert cursor.may_have_new()
        events, _ = cursor.read()
        assert [e.data for e in events] == [{"n": 1}]
        assert not cursor.may_have_new()
        # A marker is trusted for a while only: then the cursor reads whatever it says.
        monkeypatch.setattr(follow, "FULL_READ_S", 0.0)
        assert cursor.may_have_new()
    finally:
        reader.close()
        writer.close()


async def test_the_feed_skips_idle_queries_and_misses_no_event(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(event_feed, "POLL_S", 0.01)
    machete, other = create_machete(settings), create_machete(settings)
    reads = 0
    real_read = follow.EventCursor.read

    def counted(self: follow.EventCursor, limit: int = 500) -> tuple[list, bool]:  # type: ignore[type-arg]
        nonlocal reads
        reads += 1
        return real_read(self, limit)

    monkeypatch.setattr(follow.EventCursor, "read", counted)
    with ThreadPoolExecutor(2) as pool:
        feed = EventFeed(machete, pool)
        queue = feed.subscribe()
        task = asyncio.create_task(feed.run())
        try:
            await asyncio.wait_for(feed.ready.wait(), 10)
            await asyncio.sleep(0.5)  # about 50 polls, nothing recorded
            if machete.store.change_marker() is not None:
                assert reads <= 2
            other.events.publish("tool.custom", tool="t", n=7)
            event = await asyncio.wait_for(queue.get(), 10)
            assert event.data == {"n": 7}
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            machete.close()
            other.close()
