"""Bad input that used to give a 500 or a traceback (issue 10 items 15 and 20): every one is
a 4xx (or a stable error code) now, checked before anything is stored."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from yarl import URL

from machete_core.errors import DatabaseCorruptError, InvalidInputError, SchemaTooNewError
from machete_core.machete import Machete, create_machete
from machete_core.settings import Settings
from machete_plugins import BUILTIN_PLUGINS


@pytest.fixture
def machete(bundled_machete: Machete) -> Machete:
    return bundled_machete


@pytest.fixture
def client(api_client: TestClient) -> TestClient:
    return api_client


async def code_of(resp: Any) -> tuple[int, str]:
    body = await resp.json()
    return resp.status, body["error"]["code"]


async def test_bodies_that_are_not_json_text(client: TestClient, machete: Machete) -> None:
    headers = {"Content-Type": "application/json"}
    resp = await client.post("/api/tools", data=b'{"url": "\xff\xfe"}', headers=headers)
    assert await code_of(resp) == (422, "invalid_input")
    deep = b"[" * 100_000 + b"]" * 100_000
    resp = await client.post("/api/tools", data=deep, headers=headers)
    assert await code_of(resp) == (422, "invalid_input")
    deep_small = b'{"a":' * 5000 + b"1" + b"}" * 5000
    resp = await client.post("/api/tools", data=deep_small, headers=headers)
    assert resp.status == 422
    assert machete.list_tools() == []


@pytest.mark.parametrize("encoding", ["gzip", "br", "bogus"])
async def test_compressed_request_bodies_are_refused(client: TestClient, encoding: str) -> None:
    import gzip

    body = gzip.compress(b'{"url": "https://x/y.git"}')[:-8]  # truncated, too
    resp = await client.post(
        "/api/tools",
        data=body,
        headers={"Content-Type": "application/json", "Content-Encoding": encoding},
    )
    if encoding == "br":
        # aiohttp's own parser refuses an encoding it cannot decode, before any routing.
        assert resp.status == 400
    else:
        assert await code_of(resp) == (415, "unsupported_encoding")


@pytest.mark.parametrize(
    "path",
    [
        "/api/tools/99999999999999999999999",
        "/api/tools/9223372036854775808/status",
        URL("/api/tools/%C2%B2", encoded=True),
        URL("/api/tools/%D9%A1%D9%A2", encoded=True),
    ],
)
async def test_identifiers_no_tool_can_have_are_404(client: TestClient, path: Any) -> None:
    assert await code_of(await client.get(path)) == (404, "tool_not_found")


async def test_a_lone_surrogate_or_nul_in_the_url(client: TestClient) -> None:
    # Invalid UTF-8 in a path is decoded with replacement characters: no such tool.
    resp = await client.get(URL("/api/tools/%ED%A0%80", encoded=True))
    assert await code_of(resp) == (404, "tool_not_found")
    resp = await client.get(URL("/api/tools/a%00b", encoded=True))
    assert await code_of(resp) == (400, "bad_path")
    resp = await client.get(URL("/api/operations?tool=%ED%A0%80", encoded=True))
    assert resp.status == 200 and await resp.json() == {"operations": []}


@pytest.mark.parametrize("after", ["1e23", "99999999999999999999999", "-1", "x"])
async def test_event_cursors_out_of_range(client: TestClient, after: str) -> None:
    resp = await client.get(f"/api/events?after={after}")
    assert await code_of(resp) == (422, "invalid_input")


def test_nul_in_a_config_value_is_refused_before_it_is_stored(machete: Machete) -> None:
    tool = machete.store.create_tool(
        name="t", source_kind="git", source_url="https://x/t.git", spec={}, status="running"
    )
    with pytest.raises(InvalidInputError, match="NUL"):
        machete.change_config("t", {"TOKEN": "a\0b"})
    assert machete.store.config(tool.id) == []


def test_cpu_beyond_the_machine_is_refused_with_a_code(settings: Settings) -> None:
    from machete_core.domain.spec import ResourcesSpec, ToolSpec
    from machete_core.errors import ResourcesExceedHostError
    from machete_core.pipeline.deploy import check_resources

    with pytest.raises(ResourcesExceedHostError, match="CPUs"):
        check_resources(ToolSpec(resources=ResourcesSpec(cpu="1000")), settings)
    check_resources(ToolSpec(resources=ResourcesSpec(cpu="500m")), settings)


def test_a_corrupt_database_has_a_code_and_advice(tmp_path: Path) -> None:
    (tmp_path / "machete.db").write_bytes(b"this is not sqlite at all" * 100)
    m = create_machete(Settings(home=tmp_path), builtins=BUILTIN_PLUGINS)
    with pytest.raises(DatabaseCorruptError, match="Restore a backup"):
        m.list_tools()
    out = subprocess.run(
        [sys.executable, "-m", "machete_cli", "ls"],
        capture_output=True,
        text=True,
        env={"MACHETE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 1 and "error [database_corrupt]" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_schema_newer_than_the_code_refuses(tmp_path: Path) -> None:
    m = create_machete(Settings(home=tmp_path), builtins=BUILTIN_PLUGINS)
    m.list_tools()
    m.close()
    with sqlite3.connect(tmp_path / "machete.db") as db:
        db.execute("UPDATE alembic_version SET version_num = '9999'")
    m = create_machete(Settings(home=tmp_path), builtins=BUILTIN_PLUGINS)
    with pytest.raises(SchemaTooNewError, match="upgrade MACHETE"):
        m.list_tools()


def test_a_closed_pipe_ends_the_cli_quietly(tmp_path: Path) -> None:
    m = create_machete(Settings(home=tmp_path), builtins=BUILTIN_PLUGINS)
    for i in range(1500):  # far more output than a pipe holds
        m.store.create_tool(
            name=f"tool-{i}",
            source_kind="git",
            source_url="https://x/t.git",
            spec={},
            status="running",
        )
    m.close()
    env = {"MACHETE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "machete_cli", "ls", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    proc.stdout.read(1)
    proc.stdout.close()  # like `| head -c1`
    _out, err = proc.communicate(timeout=60)
    assert b"BrokenPipeError" not in err and b"Traceback" not in err
    assert proc.returncode == 0
