"""Uploads against slow clients and a filling disk (issue 10 items 7 and 12)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
from aiohttp.test_utils import TestClient

from machete_core.machete import Machete, create_machete
from machete_core.settings import Settings
from machete_core.sources.uploads import sweep_uploads, uploads_dir
from machete_plugins import BUILTIN_PLUGINS
from machete_web import create_app
from tests.support.people import owner_headers, token_for


@pytest.fixture
def machete(settings: Settings) -> Iterator[Machete]:
    tuned = attrs.evolve(settings, upload_idle_timeout=1.0, min_free_disk_bytes=0)
    m = create_machete(tuned, builtins=BUILTIN_PLUGINS)
    yield m
    m.close()


@pytest.fixture
def client(api_client: TestClient) -> TestClient:
    return api_client


async def slow_upload(port: int, token: str) -> bytes:
    """An upload that sends its headers and ten bytes, then nothing."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /api/tools HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/gzip\r\n"
        + f"Authorization: Bearer {token}\r\n".encode()
        + b"Content-Length: 1000000\r\n\r\n"
        + b"\x1f\x8b"
        + b"\0" * 8
    )
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(4096), 20)
    finally:
        writer.close()


async def test_slow_uploads_do_not_freeze_the_api(client: TestClient, machete: Machete) -> None:
    port = client.server.port
    assert port is not None
    token = token_for(machete)
    stalled = [asyncio.create_task(slow_upload(port, token)) for _ in range(8)]  # twice the workers
    await asyncio.sleep(0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(5):
        resp = await client.get("/api/tools")
        assert resp.status == 200
    assert loop.time() - started < 1.0  # not waiting behind the uploads
    answers = await asyncio.gather(*stalled)
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers), answers[0][:200]
    assert all(b"upload_timeout" in a for a in answers)
    assert list(uploads_dir(machete.settings).iterdir()) == []  # spool files removed


async def test_an_upload_below_the_free_disk_threshold_is_refused(
    aiohttp_client: Any, settings: Settings
) -> None:
    full = attrs.evolve(settings, min_free_disk_bytes=2**62)
    with create_machete(full, builtins=BUILTIN_PLUGINS) as m:
        client = await aiohttp_client(create_app(machete=m), headers=owner_headers(m))
        resp = await client.post(
            "/api/tools",
            data=b"\x1f\x8b" + b"\0" * 100,
            headers={"Content-Type": "application/gzip"},
        )
        assert resp.status == 507 and (await resp.json())["error"]["code"] == "disk_full"
        assert m.list_tools() == [] and m.store.list_operations(limit=5) == []


def test_the_reconciler_keeps_only_uploads_still_named(machete: Machete) -> None:
    folder = uploads_dir(machete.settings)
    folder.mkdir(parents=True, exist_ok=True)
    kept, dropped, fresh = "a" * 64, "b" * 64, "c" * 64
    for digest in (kept, dropped, fresh):
        (folder / f"sha256-{digest}").write_bytes(b"archive")
    partial = folder / ".incoming-x"
    partial.write_bytes(b"half")
    old = time.time() - 7200
    for digest in (kept, dropped):
        os.utime(folder / f"sha256-{digest}", (old, old))
    os.utime(partial, (old - 3600, old - 3600))
    machete.store.create_tool(
        name="t",
        source_kind="tarball",
        source_url=f"upload:sha256:{kept}",
        spec={},
        status="running",
    )
    machete.reconcile(forget_unknown=True)
    left = {p.name for p in folder.iterdir()}
    assert left == {f"sha256-{kept}", f"sha256-{fresh}"}  # fresh: within the grace period
    removed = sweep_uploads(machete.settings, set(), time.time() + 10_000)
    assert sorted(removed) == sorted(f"sha256-{n}" for n in (kept, fresh))
