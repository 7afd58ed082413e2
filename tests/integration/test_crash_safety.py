"""Crash safety, proven: the process dies at every step of deploy, rollback and remove.

Each crash is injected with ``MACHETE_TEST_CRASH_AT`` (``os._exit``, nothing cleaned up) in a
real CLI process. The next process on the same state and engine (``machete reconcile``) must
find: exactly one release serving (old or new, never none), no orphaned containers, images or
work directories, the operation ended, and a retry that succeeds. One more test kills
``machete serve`` itself with SIGKILL in the middle of a deploy.
"""

from __future__ import annotations

import json
import signal
import time
import uuid
from pathlib import Path

from machete_core.domain.operations import STEPS, OperationKind
from machete_core.machete import Machete
from machete_core.pipeline.faults import CRASH_ENV, CRASH_EXIT_STATUS
from machete_core.settings import Settings
from tests.integration.conftest import owned_objects
from tests.support.cli import run_cli
from tests.support.git_server import GitHTTPServer, commit_and_push, make_repo
from tests.support.http import get_text
from tests.support.images import http_tool_files
from tests.support.server import call, running_server, wait_op
from tests.support.tools import installed_tool

# Every step each kind declares: a new step is crashed at as soon as it exists.
DEPLOY_STEPS = STEPS[OperationKind.DEPLOY]
ROLLBACK_STEPS = STEPS[OperationKind.ROLLBACK]
REMOVE_STEPS = STEPS[OperationKind.REMOVE]
POINTS = ("before", "after")
#: In the rollback test: which release serves which page.
RELEASE_OF = {"first": 1, "second": 2}


def fast(env: dict[str, str]) -> dict[str, str]:
    return {**env, "MACHETE_DRAIN_SECONDS": "0.1", "MACHETE_HEALTH_INTERVAL": "0.1"}


def crash(env: dict[str, str], point: str, *args: str) -> None:
    out = run_cli({**env, CRASH_ENV: point}, *args, check=False)
    assert out.returncode == CRASH_EXIT_STATUS, (point, out.stdout[-1500:], out.stderr[-1500:])


def serving_body(machete: Machete, tool: str) -> str:
    """What the tool's current release answers (its status may still say an operation was
    cut off; what counts is that a release serves)."""
    return get_text(machete.get(tool).url + "/").strip()


def instance_name(machete: Machete, tool: str) -> str | None:
    number = machete.get(tool).release
    return next(r.instance_name for r in machete.releases(tool) if r.number == number)


def assert_settled(
    machete: Machete, env: dict[str, str], installation: str, tool: str, point: str
) -> None:
    """What every crash must leave once the next process has reconciled."""
    report = json.loads(run_cli(env, "reconcile", "--json").stdout)
    ops = machete.operations(tool)
    assert ops and all(op.done for op in ops), (point, [(o.kind, o.status) for o in ops])
    assert ops[0].error_code == "abandoned", (point, ops[0].status, ops[0].error_code)
    containers, images = owned_objects(installation)
    current = machete.get(tool)
    assert current.status == "running", (point, current.status, current.status_reason)
    live = [r.number for r in machete.releases(tool) if r.status == "live"]
    assert live == [current.release], (point, live)
    assert containers == [instance_name(machete, tool)], (point, containers, report)
    recorded = {r.image_id for r in machete.releases(tool) if r.image_id}
    assert set(images) <= recorded, (point, set(images) - recorded, report)
    work = machete.settings.work_dir
    assert not work.exists() or list(work.iterdir()) == [], (point, list(work.iterdir()))


def test_deploy_survives_a_crash_at_every_step(
    machete: Machete,
    env: dict[str, str],
    git_server: GitHTTPServer,
    installation: str,
    busybox_image: str,
) -> None:
    env = fast(env)
    work = installed_tool(env, git_server, "crashy", "v0")
    version = 0
    for step in DEPLOY_STEPS:
        for when in POINTS:
            point = f"{step}:{when}"
            old = f"v{version}"
            assert serving_body(machete, "crashy") == old
            version += 1
            commit_and_push(work, http_tool_files(f"v{version}"), message=point)
            crash(env, point, "deploy", "crashy")
            # Whatever the crash left, the tool serves one of the two releases, never none.
            assert serving_body(machete, "crashy") in (old, f"v{version}"), point
            assert_settled(machete, env, installation, "crashy", point)
            assert serving_body(machete, "crashy") in (old, f"v{version}"), point
            run_cli(env, "deploy", "crashy")  # the retry
            assert serving_body(machete, "crashy") == f"v{version}", point


def test_rollback_survives_a_crash_at_every_step(
    machete: Machete,
    env: dict[str, str],
    git_server: GitHTTPServer,
    installation: str,
    busybox_image: str,
) -> None:
    env = fast(env)
    work = installed_tool(env, git_server, "backer", "first")
    commit_and_push(work, http_tool_files("second"))
    run_cli(env, "deploy", "backer")
    for step in ROLLBACK_STEPS:
        for when in POINTS:
            point = f"{step}:{when}"
            before = serving_body(machete, "backer")
            other = "first" if before == "second" else "second"
            crash(env, point, "rollback", "backer", str(RELEASE_OF[other]))
            assert serving_body(machete, "backer") in (before, other), point
            assert_settled(machete, env, installation, "backer", point)
            assert serving_body(machete, "backer") in (before, other), point
            if serving_body(machete, "backer") == before:
                run_cli(env, "rollback", "backer", str(RELEASE_OF[other]))  # the retry
            assert serving_body(machete, "backer") == other, point


def test_remove_survives_a_crash_at_every_step(
    machete: Machete,
    env: dict[str, str],
    git_server: GitHTTPServer,
    installation: str,
    busybox_image: str,
) -> None:
    env = fast(env)
    repo = f"crash{uuid.uuid4().hex[:6]}"
    make_repo(git_server.root, repo, http_tool_files("doomed"))
    url = git_server.url(f"{repo}.git")
    for step in REMOVE_STEPS:
        for when in POINTS:
            point = f"{step}:{when}"
            name = f"doomed-{step}-{when}"
            run_cli(env, "install", url, "--name", name)
            data = machete.tool_data_dir(name)
            crash(env, point, "rm", name, "--purge")
            run_cli(env, "reconcile")
            ops = machete.operations(name)
            assert ops and all(op.done for op in ops), point
            assert not machete.settings.work_dir.exists() or not any(
                machete.settings.work_dir.iterdir()
            )
            run_cli(env, "rm", name, "--purge")  # the retry finishes the job
            assert machete.store.find_tool(name) is None, point
            assert owned_objects(installation) == ([], []), point
            assert not Path(data).exists(), point


def test_sigkill_of_the_server_in_the_middle_of_a_deploy(
    settings: Settings,
    machete: Machete,
    env: dict[str, str],
    git_server: GitHTTPServer,
    installation: str,
    busybox_image: str,
) -> None:
    env = fast(env)
    work = installed_tool(env, git_server, "victim", "old")
    old_instance = instance_name(machete, "victim")
    # The new release takes a while to become healthy: the server dies while it waits.
    slow = http_tool_files("new")
    slow["Dockerfile"] = slow["Dockerfile"].replace('"echo tool', '"sleep 5; echo tool')
    commit_and_push(work, slow)
    with running_server(env) as (base, proc):
        status, body = call("POST", f"{base}/api/tools/victim/deploy", {})
        assert status == 202, body
        op_id = body["operation_id"]
        deadline = time.monotonic() + 120
        while True:
            steps = call("GET", f"{base}/api/operations/{op_id}")[1]["operation"]["steps"]
            if any(s["name"] == "health" and s["status"] == "running" for s in steps):
                break
            assert time.monotonic() < deadline, steps
            time.sleep(0.1)
        assert len(owned_objects(installation)[0]) == 2  # old and new side by side
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert serving_body(machete, "victim") == "old"  # the old one never stopped serving
    with running_server(env) as (base, _proc):  # the restart reconciles at start
        deadline = time.monotonic() + 60
        while not machete.operation(op_id).done:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert machete.operation(op_id).error_code == "abandoned"
        assert owned_objects(installation)[0] == [old_instance]
        assert get_text(f"{base}/tools/victim/").strip() == "old"
        status, body = call("POST", f"{base}/api/tools/victim/deploy", {})  # the retry
        assert status == 202, body
        assert wait_op(base, body["operation_id"])["status"] == "succeeded"
        assert get_text(f"{base}/tools/victim/").strip() == "new"
    recorded = {r.image_id for r in machete.releases("victim") if r.image_id}
    assert set(owned_objects(installation)[1]) <= recorded


def test_a_build_dies_with_its_killed_server_and_tags_nothing(
    machete: Machete, env: dict[str, str], git_server: GitHTTPServer, busybox_image: str
) -> None:
    """Issue 10 item 18: a buildx build must not outlive ``kill -9`` of its server and tag an
    image after the restart has reconciled."""
    from machete_core.domain.naming import image_repository

    files = http_tool_files("slow build", extra_manifest="  builder: buildx\n")
    files["Dockerfile"] = files["Dockerfile"].replace(
        # Unique, so that no earlier run's layer cache finishes it at once.
        "COPY www /www\n",
        f"COPY www /www\nRUN echo building-slowly {uuid.uuid4().hex} && sleep 12\n",
    )
    repo = f"slowb{uuid.uuid4().hex[:6]}"
    make_repo(git_server.root, repo, files)
    tag = f"{image_repository(env['MACHETE_INSTALLATION'], 'slowbuild')}:r1"
    with running_server(fast(env)) as (base, proc):
        status, body = call(
            "POST", f"{base}/api/tools", {"url": git_server.url(f"{repo}.git"), "name": "slowbuild"}
        )
        assert status == 202, body
        op_id = body["operation_id"]
        deadline = time.monotonic() + 120
        while "building-slowly" not in machete.operation_log(op_id)[0]:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    time.sleep(2)
    leftovers = [p for p in Path("/proc").glob("[0-9]*/cmdline") if _reads(p).count(tag)]
    assert leftovers == []  # the buildx client died with the server
    time.sleep(14)  # past the moment the build would have finished
    out = run_cli(env, "ls", "--json")
    assert out.returncode == 0
    import docker

    client = docker.from_env()
    try:
        assert not client.images.list(name=tag.split(":")[0])  # nothing was ever tagged
    finally:
        client.close()


def _reads(path: Path) -> str:
    try:
        return path.read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
