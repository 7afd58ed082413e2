"""Metrics and logs of a real ``machete serve`` with real containers: deploys, a failed deploy, a
rollback, a health flap and proxied requests leave their series on ``/metrics``; removing the
tool removes them; the server's JSON log lines carry one request's id on its access line, its
operation's lines and the header the tool received."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import docker
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.git_server import GitHTTPServer, commit_and_push, make_repo
from tests.support.http import auth_headers
from tests.support.images import http_tool_files
from tests.support.server import SERVER_LOGS, running_server, tools_base, wait_op

#: A CGI script of busybox httpd: answers the X-Request-ID header the tool was sent.
RID_SCRIPT = '#!/bin/sh\necho "Content-Type: text/plain"\necho\necho "$HTTP_X_REQUEST_ID"\n'


def tool_files(body: str) -> dict[str, str]:
    files = http_tool_files(body)
    files["Dockerfile"] = files["Dockerfile"].replace(
        "COPY www /www\n", "COPY www /www\nRUN chmod 755 /www/cgi-bin/rid\n"
    )
    files["www/cgi-bin/rid"] = RID_SCRIPT
    return files


def send(
    url: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    for k, v in {**auth_headers(url), **(headers or {})}.items():
        req.add_header(k, v)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def scrape(base: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    # From loopback: no credentials needed (the token is not sent).
    with urllib.request.urlopen(base + "/metrics", timeout=30) as resp:
        text = resp.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def val(found: dict[Any, float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def server(env: dict[str, str], busybox_image: str) -> Iterator[str]:
    settings = {
        "MACHETE_DRAIN_SECONDS": "1",
        "MACHETE_HEALTH_CHECK_INTERVAL": "0.5",
        "MACHETE_LOG_FORMAT": "json",
    }
    with running_server({**env, **settings}) as (base, _proc):
        yield base


def wait_for(check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


def test_metrics_and_logs_follow_real_deploys_and_requests(
    server: str, git_server: GitHTTPServer
) -> None:
    repo = f"obs{uuid.uuid4().hex[:6]}"
    work = make_repo(git_server.root, repo, tool_files("first")).parent / f"{repo}-work"
    rid = f"obs-{uuid.uuid4().hex[:8]}"
    status, headers, body = send(
        f"{server}/api/tools",
        "POST",
        {"url": git_server.url(f"{repo}.git"), "name": "obs"},
        {"X-Request-ID": rid},
    )
    assert status == 202 and headers["X-Request-ID"] == rid, body
    install = json.loads(body)["operation_id"]
    assert wait_op(server, install)["status"] == "succeeded"

    # Proxied requests, one of them naming its id: the tool receives the same id.
    proxy_rid = rid + "-proxy"
    tools = tools_base(server)
    status, headers, body = send(
        f"{tools}/tools/obs/cgi-bin/rid", headers={"X-Request-ID": proxy_rid}
    )
    assert (status, body.decode().strip(), headers["X-Request-ID"]) == (200, proxy_rid, proxy_rid)
    for _ in range(3):
        assert send(f"{tools}/tools/obs/")[0] == 200
    assert send(f"{tools}/tools/obs/nothing-here")[0] == 404

    # A second release, a failed deploy (the build fails), and a rollback.
    commit_and_push(work, {"www/index.html": "second\n"})
    op = json.loads(send(f"{server}/api/tools/obs/deploy", "POST", {})[2])["operation_id"]
    assert wait_op(server, op)["status"] == "succeeded"
    commit_and_push(work, {"Dockerfile": tool_files("x")["Dockerfile"] + "RUN false\n"})
    op = json.loads(send(f"{server}/api/tools/obs/deploy", "POST", {})[2])["operation_id"]
    assert wait_op(server, op)["status"] == "failed"
    op = json.loads(send(f"{server}/api/tools/obs/rollback", "POST", {})[2])["operation_id"]
    assert wait_op(server, op)["status"] == "succeeded"

    # A health flap: the tool's health page goes away, then comes back.
    view = json.loads(send(f"{server}/api/tools/obs")[2])
    container = docker.from_env().containers.get(view["tool"]["instance_id"])
    container.exec_run(["mv", "/www/health", "/www/health.off"])
    assert wait_for(
        lambda: val(scrape(server), "machete_tool_health", tool="obs", state="unhealthy") == 1
    )
    container.exec_run(["mv", "/www/health.off", "/www/health"])
    assert wait_for(
        lambda: val(scrape(server), "machete_tool_health", tool="obs", state="healthy") == 1
    )

    found = scrape(server)
    ops = "machete_operations_total"
    assert val(found, ops, tool="obs", kind="install", outcome="succeeded") == 1
    assert val(found, ops, tool="obs", kind="deploy", outcome="succeeded") == 1
    assert val(found, ops, tool="obs", kind="deploy", outcome="failed") == 1
    assert val(found, ops, tool="obs", kind="rollback", outcome="succeeded") == 1
    builders = {dict(k[1]).get("builder") for k in found if k[0] == "machete_builds_total"}
    # One builder (the installation's default, buildx or docker) built them all.
    (builder,) = builders
    assert builder in ("buildx", "docker")
    assert val(found, "machete_builds_total", builder=builder, outcome="succeeded") == 2
    assert val(found, "machete_builds_total", builder=builder, outcome="failed") == 1
    assert val(found, "machete_build_duration_seconds_count", builder=builder) == 3
    assert val(found, "machete_operation_duration_seconds_count", kind="deploy") == 2
    assert (
        val(found, "machete_operation_step_duration_seconds_count", kind="install", step="build")
        == 1
    )
    assert val(found, "machete_operations_in_progress", kind="deploy") == 0
    assert val(found, "machete_tool_up", tool="obs") == 1
    assert val(found, "machete_tool_last_deploy_timestamp_seconds", tool="obs") > 0
    assert val(found, "machete_health_changes_total", tool="obs", state="unhealthy") >= 1
    assert val(found, "machete_health_checks_total", result="unhealthy") >= 1
    assert val(found, "machete_health_checks_total", result="healthy") >= 1
    proxied = "machete_proxy_requests_total"
    assert val(found, proxied, tool="obs", method="GET", status_class="2xx") == 4
    assert val(found, proxied, tool="obs", method="GET", status_class="4xx") == 1
    assert val(found, "machete_proxy_request_duration_seconds_count", tool="obs") == 5
    api = "machete_api_requests_total"
    assert val(found, api, route="/api/tools", method="POST", status="202") == 1
    assert [v for (n, _labels), v in found.items() if n == "machete_build_info"] == [1.0]
    assert val(found, "machete_auth_attempts_total", method="token", outcome="ok") >= 5

    # Removing the tool removes its series.
    op = json.loads(send(f"{server}/api/tools/obs", "DELETE")[2])["operation_id"]
    assert wait_op(server, op)["status"] == "succeeded"
    after = scrape(server)
    assert [k for k in after if dict(k[1]).get("tool") == "obs"] == []

    # The server's log: JSON lines, one request's id on its access line and its operation's.
    lines = [json.loads(line) for line in SERVER_LOGS[server].read_text().splitlines() if line]
    access = [x for x in lines if x.get("logger") == "machete.access"]
    install_access = [x for x in access if x.get("request_id") == rid]
    assert len(install_access) == 1 and install_access[0]["status"] == 202
    assert install_access[0]["route"] == "/api/tools" and install_access[0]["listener"] == "api"
    op_lines = [x for x in lines if x.get("operation_id") == install]
    assert op_lines and {x["request_id"] for x in op_lines} == {rid}
    assert {x.get("step") for x in op_lines} >= {"fetch", "build"}
    proxied_line = next(x for x in access if x.get("request_id") == proxy_rid)
    assert proxied_line["listener"] == "tools" and proxied_line["tool"] == "obs"
