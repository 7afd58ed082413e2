"""The server's logs: JSON lines (or readable ones), each with the context of its work; request
ids accepted only when well formed, echoed, forwarded to the tool and kept on the operation and
its audit row; and no secret in any line."""

from __future__ import annotations

import datetime
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from machete_cli import log_format as logs
from machete_core import log_context
from machete_core.errors import InvalidInputError
from machete_core.machete import Machete
from tests.support.people import PASSWORD, ensure_user, token_for
from tests.support.pointing import UPSTREAM, deployed
from tests.support.webapps import api_and_tools


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The root logger writing JSON lines here for the test (and put back after)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    out = io.StringIO()
    logs.configure(stream=out, environ={"MACHETE_LOG_FORMAT": "json"})
    yield out
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    # Every line is one JSON object: a line that is not fails here.
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def test_json_lines_carry_the_work_context_and_extra_fields(captured: io.StringIO) -> None:
    with log_context.bound(request_id="req-1", tool="wiki", operation_id="op1", step="build"):
        logging.getLogger("machete_core.pipeline").info("building %s", "wiki", extra={"n": 3})
    logging.getLogger("sqlalchemy.engine").info("chatty and below the quiet level")
    try:
        raise RuntimeError("boom\nwith a second line")
    except RuntimeError:
        logging.getLogger("aiohttp.server").exception("handler failed")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("an old API", UserWarning, stacklevel=1)
    first, failure, warned = lines(captured)
    assert warned["logger"] == "py.warnings" and "an old API" in warned["event"]
    assert first["event"] == "building wiki" and first["n"] == 3
    assert first["level"] == "info" and first["logger"] == "machete_core.pipeline"
    assert {k: first[k] for k in ("request_id", "tool", "operation_id", "step")} == {
        "request_id": "req-1",
        "tool": "wiki",
        "operation_id": "op1",
        "step": "build",
    }
    assert first["timestamp"].endswith("Z") and "message" not in first
    assert "request_id" not in failure  # the context ended with its block
    assert failure["level"] == "error" and "RuntimeError: boom" in failure["exception"]


def test_json_lines_are_what_the_processor_chain_renders() -> None:
    """Lines without a traceback are built in one step (the access line is on every proxied
    request); they must say exactly what structlog's processor chain, as configured for JSON
    lines, says."""
    import structlog

    fast = logs.formatter("json")

    def chain(record: logging.LogRecord) -> str:
        return structlog.stdlib.ProcessorFormatter.format(fast, record)

    logger = logging.getLogger("machete.access")
    secret = "s3cr3t-value-that-is-long"
    records = [
        logger.makeRecord(
            "machete.access",
            logging.INFO,
            __file__,
            1,
            "request",
            (),
            None,
            extra={
                "method": "GET",
                "path": f"/tools/a/?k={secret}",
                "status": 200,
                "duration_ms": 1.5,
                "remote": None,
                "odd": {1, 2},
                "obj": object,
            },
        ),
        logger.makeRecord("machete.x", logging.WARNING, __file__, 2, "%s of %d", ("x", 3), None),
    ]
    with log_context.bound(request_id="r-1", tool="a", step="build"):
        for known in ((), (secret,)):
            with log_context.secrets_bound(known):
                for record in records:
                    ours = json.loads(fast.format(record))
                    theirs = json.loads(chain(record))
                    assert list(ours) == list(theirs)
                    stamps = [
                        datetime.datetime.fromisoformat(x.pop("timestamp")) for x in (ours, theirs)
                    ]
                    assert abs((stamps[0] - stamps[1]).total_seconds()) < 5
                    assert ours == theirs
                    if known:
                        assert secret not in json.dumps(ours)


def test_the_format_follows_the_terminal_unless_set(captured: io.StringIO) -> None:
    term = Terminal()
    assert logs.configure(stream=term, environ={}) == "console"
    logging.getLogger("machete").warning("readable")
    assert "readable" in term.getvalue() and not term.getvalue().lstrip().startswith("{")
    assert logs.configure(stream=io.StringIO(), environ={}) == "json"
    assert logs.configure(stream=term, environ={"MACHETE_LOG_FORMAT": "JSON"}) == "json"
    # Configuring again replaces the handler: one line per record, not two.
    assert sum(1 for h in logging.getLogger().handlers if hasattr(h, "_machete_handler")) == 1


@pytest.mark.parametrize(
    ("name", "value"), [("MACHETE_LOG_FORMAT", "xml"), ("MACHETE_LOG_LEVEL", "LOUD")]
)
def test_a_bad_setting_is_a_clear_error(name: str, value: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        logs.configure(stream=io.StringIO(), environ={name: value})
    assert name in caught.value.message


@pytest.fixture
def machete(pointing_machete: Machete) -> Machete:
    return pointing_machete


async def header_echo(request: web.Request) -> web.Response:
    return web.json_response({"request_id": request.headers.get("X-Request-ID")})


@pytest.fixture
async def upstream() -> AsyncIterator[TestServer]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", header_echo)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    UPSTREAM["port"] = server.port  # type: ignore[assignment]
    yield server
    await server.close()


async def test_one_request_id_on_the_answer_the_access_line_the_tool_and_the_operation(
    aiohttp_client: Any, machete: Machete, upstream: TestServer, captured: io.StringIO
) -> None:
    deployed(machete, "app")
    api, tools = await api_and_tools(aiohttp_client, machete)
    rid = "deploy-2026.12.03:abc_1"
    resp = await tools.get("/tools/app/", headers={"X-Request-ID": rid})
    assert resp.headers["X-Request-ID"] == rid
    assert (await resp.json())["request_id"] == rid  # the tool was sent the same id
    resp = await api.post("/api/tools/app/restart", headers={"X-Request-ID": rid + "op"})
    assert resp.status == 202 and resp.headers["X-Request-ID"] == rid + "op"
    op_id = (await resp.json())["operation_id"]
    record = await api.get(f"/api/operations/{op_id}")
    assert (await record.json())["operation"]["request_id"] == rid + "op"
    audit = await (await api.get("/api/audit", params={"tool": "app"})).json()
    assert rid + "op" in {row["request_id"] for row in audit["audit"]}
    for _ in range(100):  # the operation runs on in the background; wait for its end line
        if any(
            line.get("event", "").startswith("operation restart")
            and "ended" in line.get("event", "")
            for line in lines(captured)
        ):
            break
        import asyncio

        await asyncio.sleep(0.05)
    seen = lines(captured)
    access = [line for line in seen if line["logger"] == "machete.access"]
    proxied = next(line for line in access if line["request_id"] == rid)
    assert proxied["listener"] == "tools" and proxied["status"] == 200 and proxied["tool"] == "app"
    started = next(line for line in access if line["request_id"] == rid + "op")
    assert started["route"] == "/api/tools/{tool}/{action}" and started["status"] == 202
    assert started["actor"].startswith("token:") or started["actor"].startswith("user:")
    op_lines = [line for line in seen if line.get("operation_id") == op_id]
    assert op_lines and all(line["request_id"] == rid + "op" for line in op_lines)
    assert any(line.get("step") for line in op_lines)


@pytest.mark.parametrize(
    "given",
    ["", "has space", "new\nline", "x" * 65, "-leading-dash", "semi;colon", "ünïcode"],
)
async def test_a_malformed_request_id_is_replaced(
    aiohttp_client: Any, machete: Machete, given: str
) -> None:
    api, _tools = await api_and_tools(aiohttp_client, machete)
    headers = {"X-Request-ID": given} if "\n" not in given else {}
    resp = await api.get("/api/health", headers=headers)
    answered = resp.headers["X-Request-ID"]
    assert answered != given and log_context.well_formed_request_id(answered)


async def test_secrets_never_reach_the_log(
    aiohttp_client: Any, machete: Machete, upstream: TestServer, captured: io.StringIO
) -> None:
    deployed(machete, "app")
    api, tools = await api_and_tools(aiohttp_client, machete)
    secret = "s3cret-config-value-42"
    resp = await api.put(
        "/api/tools/app/config", json={"values": {"API_KEY": secret}, "secret": True}
    )
    assert resp.status in (200, 202), await resp.text()
    token = token_for(machete, "reader", "viewer", scopes=("tools:read",))
    await (await api.get("/api/tools", headers={"Authorization": f"Bearer {token}"})).release()
    await (
        await tools.get(f"/tools/app/?access_token={token}", headers={"Authorization": "Bearer x"})
    ).release()
    ensure_user(machete, "person", "viewer")
    await (
        await api.post("/api/auth/login", json={"username": "person", "password": PASSWORD})
    ).release()
    await (
        await api.post(
            "/api/tools",
            json={"url": f"https://bob:{secret}@example.invalid/repo.git", "name": "leaky"},
        )
    ).release()
    # The core logging inside an operation of the tool: its secrets are bound there.
    with log_context.secrets_bound(machete.core.config_secrets(machete.store.get_tool("app").id)):
        logging.getLogger("machete_core.pipeline.deploy").warning("env has %s", secret)
        logging.getLogger("docker").warning("auth %s", f"Authorization: Bearer {token}")
    text = captured.getvalue()
    assert text.strip()
    for leaked in (secret, token, PASSWORD, token.split("_")[-1]):
        assert leaked not in text, leaked
    assert len(lines(captured)) >= 5


def test_the_cli_working_on_the_state_renders_the_cores_warnings(tmp_path: Any) -> None:
    """Local mode: the core's records reach stderr as the server's do (from WARNING)."""
    import os
    import subprocess
    import sys

    script = (
        "import logging\n"
        "from machete_cli.context import Context\n"
        "ctx = Context(False, True, None, local=True)\n"
        "ctx._local_backend()\n"
        "logging.getLogger('machete_core.reconcile').info('not shown')\n"
        "with __import__('machete_core.log_context', fromlist=['x']).bound(tool='wiki'):\n"
        "    logging.getLogger('machete_core.reconcile').warning('token mch_pat_%s', 'x' * 40)\n"
    )
    env = {**os.environ, "MACHETE_HOME": str(tmp_path), "MACHETE_LOG_FORMAT": "json"}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    (line,) = [json.loads(x) for x in out.stderr.splitlines() if x.strip()]
    assert line["level"] == "warning" and line["tool"] == "wiki"
    assert line["event"] == "token mch_***"


async def test_a_token_in_a_path_is_redacted_wherever_it_lands(
    aiohttp_client: Any, machete: Machete, upstream: TestServer, captured: io.StringIO
) -> None:
    """A token pasted into a URL (as a tool name, or a path): no log field shows it."""
    api, tools = await api_and_tools(aiohttp_client, machete)
    token = token_for(machete, "pat", "viewer", scopes=("tools:read",))
    await (await api.get(f"/api/tools/{token}")).release()
    await (await tools.get(f"/tools/{token}/x")).release()
    await (await tools.get(f"/tools/app/{token}")).release()
    text = captured.getvalue()
    assert text.count('"logger": "machete.access"') >= 3
    assert token not in text and token.split("_")[-1] not in text
