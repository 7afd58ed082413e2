"""A tool on Docker Swarm through MACHETE: replicas, registry by digest, routing, scaling,
zero-downtime redeploys, adoption after restarts, logs, removal."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import docker

from tests.integration.conftest import owned_objects
from tests.integration.test_runtime_contract import SWARM_LACKS
from tests.support.cli import run_cli
from tests.support.git_server import GitHTTPServer, commit_and_push, make_repo
from tests.support.http import get_text, request
from tests.support.images import http_tool_files
from tests.support.registry import LocalRegistry
from tests.support.server import call, running_server, wait_op
from tests.support.tools import installed_tool

SWARM_MANIFEST = "  runtime: swarm\n  replicas: 2\n"


def services(installation: str) -> list[dict[str, object]]:
    client = docker.from_env()
    try:
        found = client.api.services(filters={"label": f"io.machete.installation={installation}"})
        return list(found)
    finally:
        client.close()


def running_replicas(service_id: str) -> int:
    client = docker.from_env()
    try:
        tasks = client.api.tasks(filters={"service": service_id, "desired-state": "running"})
        return sum(1 for t in tasks if t["Status"]["State"] == "running")
    finally:
        client.close()


def test_a_tool_on_swarm_end_to_end(
    env: dict[str, str],
    git_server: GitHTTPServer,
    installation: str,
    busybox_image: str,
    swarm: None,
    registry: LocalRegistry,
) -> None:
    env = {
        **env,
        "MACHETE_SWARM_ACCEPT_MISSING": ",".join(SWARM_LACKS),
        "MACHETE_REGISTRY": registry.address,
        "MACHETE_DRAIN_SECONDS": "1",
    }
    repo = f"sw{uuid.uuid4().hex[:6]}"
    work = make_repo(
        git_server.root, repo, http_tool_files("swarm 1", extra_manifest=SWARM_MANIFEST)
    )
    with running_server(env) as (base, _proc):
        status, body = call(
            "POST", f"{base}/api/tools", {"url": git_server.url(f"{repo}.git"), "name": "swarmy"}
        )
        op = wait_op(base, body["operation_id"])
        assert op["status"] == "succeeded", (op["error_message"], op["log_text"][-1500:])
        assert get_text(f"{base}/tools/swarmy/").strip() == "swarm 1"
        [service] = services(installation)
        image = service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]  # type: ignore[index]
        assert image.startswith(f"{registry.address}/machete-{installation}/swarmy@sha256:")
        assert running_replicas(str(service["ID"])) == 2

        status, body = call("POST", f"{base}/api/tools/swarmy/scale", {"replicas": 3})
        assert status == 202, body
        assert wait_op(base, body["operation_id"])["status"] == "succeeded"
        assert running_replicas(str(service["ID"])) == 3

        # A redeploy with requests flowing through the proxy: none fails.
        failures: list[str] = []
        stop = threading.Event()

        def loop() -> None:
            while not stop.is_set():
                code, page = request(f"{base}/tools/swarmy/", timeout=10)
                if code != 200 or not page.startswith(b"swarm"):
                    failures.append(f"{code} {page[:60]!r}")

        client = threading.Thread(target=loop)
        client.start()
        try:
            commit_and_push(work, http_tool_files("swarm 2", extra_manifest=SWARM_MANIFEST))
            status, body = call("POST", f"{base}/api/tools/swarmy/deploy", {})
            assert wait_op(base, body["operation_id"])["status"] == "succeeded"
        finally:
            stop.set()
            client.join()
        assert failures == []
        assert get_text(f"{base}/tools/swarmy/").strip() == "swarm 2"
        [service] = services(installation)
        assert running_replicas(str(service["ID"])) == 3  # the scale outlives the release
        status = json.loads(run_cli(env, "status", "swarmy", "--json").stdout)
        assert (status["runtime"], status["replicas"], status["release"]) == ("swarm", 3, 2)
        _s, logs = call("GET", f"{base}/api/tools/swarmy/logs?tail=50")
        # Service logs: the replicas' httpd access lines of the request loop above.
        assert any("response:200" in line for line in logs["lines"]), logs["lines"][-5:]
    for _ in range(2):  # restarts adopt the same service
        with running_server(env) as (base, _proc):
            assert [s["ID"] for s in services(installation)] == [service["ID"]]
            assert get_text(f"{base}/tools/swarmy/").strip() == "swarm 2"
    assert "1 replica(s)" in run_cli(env, "scale", "swarmy", "1").stdout
    assert running_replicas(str(service["ID"])) == 1
    run_cli(env, "rm", "swarmy")
    assert services(installation) == []
    assert owned_objects(installation) == ([], [])


def test_a_scale_whose_new_replicas_fail_their_health_check_is_rolled_back(
    env: dict[str, str],
    git_server: GitHTTPServer,
    installation: str,
    busybox_image: str,
    swarm: None,
) -> None:
    """New replicas that run but answer their health path with 404 are not accepted: the
    service goes back to its previous spec and the tool keeps serving as before."""
    env = {
        **env,
        "MACHETE_SWARM_ACCEPT_MISSING": ",".join(SWARM_LACKS),
        "MACHETE_HEALTH_TIMEOUT": "8",
    }
    files = http_tool_files("steady", extra_manifest="  runtime: swarm\n")
    # A replica started while /data/sick exists serves no health file.
    files["Dockerfile"] = files["Dockerfile"].replace(
        'CMD ["sh", "-c", "echo tool starting on $PORT; exec httpd -f -v -p 8080 -h /www"]',
        'CMD ["sh", "-c", "mkdir -p /srv && cp -r /www/. /srv/ && '
        "if [ -f /data/sick ]; then rm /srv/health; fi; "
        'echo tool starting; exec httpd -f -v -p 8080 -h /srv"]',
    )
    assert "/data/sick" in files["Dockerfile"]
    installed_tool(env, git_server, "fragile", files=files)
    [service] = services(installation)
    assert running_replicas(str(service["ID"])) == 1
    data = Path(env["MACHETE_HOME"]) / "volumes" / "fragile" / "data"
    (data / "sick").write_text("new replicas will be unhealthy\n")
    failed = run_cli(env, "scale", "fragile", "2", check=False)
    assert failed.returncode == 1 and "health_check_failed" in failed.stderr
    deadline = time.monotonic() + 60
    while running_replicas(str(service["ID"])) != 1:
        assert time.monotonic() < deadline, "the service was not rolled back to one replica"
        time.sleep(0.5)
    client = docker.from_env()
    try:
        spec = client.api.inspect_service(service["ID"])["Spec"]
    finally:
        client.close()
    assert spec["Mode"]["Replicated"]["Replicas"] == 1
    status = json.loads(run_cli(env, "status", "fragile", "--json").stdout)
    assert status["status"] == "running" and status["health"] == "healthy"
    run_cli(env, "rm", "fragile")
    assert services(installation) == []
