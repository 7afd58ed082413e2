"""The reconciler against the real engine: adoption, orphans, interrupted operations, policy."""

from __future__ import annotations

import socket
import time
import uuid

import docker
import pytest

from machete_core.domain import labels
from machete_core.domain.naming import container_name
from machete_core.domain.operations import SYSTEM
from machete_core.errors import StateMissingError
from machete_core.machete import Machete, create_machete
from machete_core.settings import Settings
from machete_plugins import BUILTIN_PLUGINS
from tests.integration.conftest import owned_objects
from tests.support.git_server import GitHTTPServer, make_repo
from tests.support.images import BUSYBOX_IMAGE, http_tool_files


def installed(machete: Machete, git_server: GitHTTPServer, name: str) -> None:
    repo = f"rc{uuid.uuid4().hex[:6]}"
    make_repo(git_server.root, repo, http_tool_files(name))
    machete.install(git_server.url(f"{repo}.git"), name=name)


def test_restarts_adopt_the_same_containers(
    machete: Machete, git_server: GitHTTPServer, settings: Settings
) -> None:
    installed(machete, git_server, "adopted")
    before = machete.get("adopted").instance_id
    for _ in range(3):  # three "platform restarts": new Machete objects on the same state
        with create_machete(settings, builtins=BUILTIN_PLUGINS) as fresh:
            report = fresh.reconcile()
            assert report.orphans_removed == [] and report.restarted == []
            assert fresh.get("adopted").instance_id == before
            assert fresh.get("adopted").health == "healthy"


def test_orphans_of_this_installation_only(machete: Machete, installation: str) -> None:
    client = docker.from_env()
    other = f"other-{uuid.uuid4().hex[:6]}"
    try:
        mine = client.containers.run(
            BUSYBOX_IMAGE,
            ["sleep", "300"],
            detach=True,
            init=True,
            labels={labels.INSTALLATION: installation, labels.TOOL: "ghost"},
        )
        theirs = client.containers.run(
            BUSYBOX_IMAGE,
            ["sleep", "300"],
            detach=True,
            init=True,
            labels={labels.INSTALLATION: other, labels.TOOL: "ghost"},
        )
        # A state that never knew "ghost" refuses to remove it (issue 10 item 9)...
        with pytest.raises(StateMissingError):
            machete.reconcile()
        # ...until an admin says so; even then only this installation's objects go.
        report = machete.reconcile(forget_unknown=True)
        assert report.orphans_removed == [mine.name]
        assert owned_objects(installation)[0] == []
        theirs.reload()
        assert theirs.status == "running"  # never anything it does not own
    finally:
        for c in client.containers.list(
            all=True, filters={"label": [f"{labels.INSTALLATION}={other}"]}
        ):
            c.remove(force=True)
        client.close()


def test_interrupted_operation_is_ended_and_undone(
    machete: Machete, git_server: GitHTTPServer, installation: str
) -> None:
    installed(machete, git_server, "cut")
    tool = machete.store.get_tool("cut")
    live = machete.get("cut").instance_id
    # A deploy whose process died after starting its new instance, before the gate.
    op = machete.store.create_operation(
        actor=SYSTEM,
        id=uuid.uuid4().hex,
        kind="deploy",
        tool_id=tool.id,
        tool_name="cut",
        log_path="/dev/null",
        params={"holder": "vm-that-died:999999"},
    )
    machete.store.update_operation(op.id, status="running")
    client = docker.from_env()
    try:
        half = client.containers.run(
            BUSYBOX_IMAGE,
            ["sleep", "300"],
            detach=True,
            init=True,
            name=f"{container_name(installation, 'cut', 2)}-{uuid.uuid4().hex[:4]}",
            labels=labels.for_release(installation, "cut", 2),
        )
    finally:
        client.close()
    machete.store.create_release(
        tool.id,
        key="k2",
        builder="docker",
        runtime="docker",
        status="starting",
        instance_id=half.id,
        operation_id=op.id,
    )

    machete.store.update_operation(
        op.id, params_json=f'{{"holder": "{socket.gethostname()}:999999"}}'
    )
    report = machete.reconcile()
    assert report.abandoned == [op.id]
    assert machete.operation(op.id).error_code == "abandoned"
    assert machete.releases("cut")[0].status == "failed"
    assert owned_objects(installation)[0] == [
        container_name(installation, "cut", 1)
    ]  # the half-made one is gone
    assert machete.get("cut").instance_id == live and machete.get("cut").status == "running"


def test_disabled_tools_stop_and_stopped_tools_come_back(
    machete: Machete, git_server: GitHTTPServer
) -> None:
    installed(machete, git_server, "policy")
    instance = machete.get("policy").instance_id
    client = docker.from_env()
    try:
        client.containers.get(instance).stop(timeout=2)  # stopped behind MACHETE's back
    finally:
        client.close()
    assert machete.reconcile().restarted == ["policy"]
    deadline = time.monotonic() + 20
    while machete.get("policy").health != "healthy":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert machete.reconcile().restarted == []  # running again: nothing to do
    machete.set_flags("policy", enabled=False)
    assert machete.reconcile().stopped == ["policy"]
    assert machete.get("policy").status == "stopped"


def test_a_new_operation_ends_a_dead_one_instead_of_waiting_forever(
    machete: Machete, git_server: GitHTTPServer
) -> None:
    installed(machete, git_server, "stuck")
    tool = machete.store.get_tool("stuck")
    dead = machete.store.create_operation(
        actor=SYSTEM,
        id=uuid.uuid4().hex,
        kind="deploy",
        tool_id=tool.id,
        tool_name="stuck",
        log_path="/dev/null",
        params={"holder": f"{socket.gethostname()}:999999"},
    )
    machete.store.update_operation(dead.id, status="running")
    assert machete.stop("stuck").status == "succeeded"  # not tool_busy
    assert machete.operation(dead.id).error_code == "abandoned"


def test_an_empty_database_never_deletes_running_tools(
    machete: Machete,
    git_server: GitHTTPServer,
    settings: Settings,
    tmp_path: object,
    env: dict[str, str],
) -> None:
    """Issue 10 item 9: a zero-length database file beside this installation's objects."""
    import attrs

    from tests.support.cli import run_cli
    from tests.support.ports import free_port

    installed(machete, git_server, "precious")
    containers, images = owned_objects(settings.installation)
    assert containers and images
    empty = settings.home / "empty.db"
    empty.write_bytes(b"")
    lost = attrs.evolve(settings, database_url=f"sqlite:///{empty}")
    with create_machete(lost, builtins=BUILTIN_PLUGINS) as m:
        with pytest.raises(StateMissingError, match="machete restore") as info:
            m.reconcile()
        assert "precious" in info.value.message
    assert owned_objects(settings.installation) == (containers, images)
    # The server refuses to start on it, with the code and the way out.
    lost_env = {
        **env,
        "MACHETE_DATABASE_URL": f"sqlite:///{empty}",
        "MACHETE_TOOLS_PORT": str(free_port()),
    }
    out = run_cli(lost_env, "serve", "--port", str(free_port()), check=False)
    assert out.returncode != 0 and "error [state_missing]" in out.stderr, out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    assert owned_objects(settings.installation) == (containers, images)
    # Only the admin's explicit word removes them.
    with create_machete(lost, builtins=BUILTIN_PLUGINS) as m:
        report = m.reconcile(forget_unknown=True)
    assert report.orphans_removed and owned_objects(settings.installation)[0] == []


def test_a_crash_looping_tool_says_so_and_a_vanished_one_is_unavailable(
    machete: Machete, git_server: GitHTTPServer
) -> None:
    """Issue 10 item 19: no flapping between running/healthy and failed."""
    from machete_core.errors import ToolUnavailableError

    files = http_tool_files("loops")
    files["Dockerfile"] = files["Dockerfile"].replace(
        'CMD ["sh", "-c", "echo tool starting on $PORT; exec httpd -f -v -p 8080 -h /www"]',
        'CMD ["sh", "-c", "timeout 3 httpd -f -p 8080 -h /www; echo crashed; exit 3"]',
    )
    repo = f"loop{uuid.uuid4().hex[:6]}"
    make_repo(git_server.root, repo, files)
    machete.install(git_server.url(f"{repo}.git"), name="looper")
    deadline = time.monotonic() + 60
    seen: list[str] = []
    while time.monotonic() < deadline:
        view = machete.get("looper", probe_health=False)
        seen.append(view.status)
        if view.restart_count >= 4:
            break
        time.sleep(0.5)
    assert view.restart_count >= 4, seen
    # From the third restart on it is crash-looping, whether the instance is up this moment
    # or not.
    statuses = set()
    for _ in range(10):
        view = machete.get("looper", probe_health=False)
        statuses.add(view.status)
        time.sleep(0.4)
    assert statuses == {"crash-looping"}, statuses
    assert "restarted" in (view.reason or "")
    # Its container vanishes: the proxy's route says unavailable (503), not a conflict.
    client = docker.from_env()
    try:
        client.containers.get(view.instance_id).remove(force=True)
    finally:
        client.close()
    with pytest.raises(ToolUnavailableError):
        machete.route("looper")
