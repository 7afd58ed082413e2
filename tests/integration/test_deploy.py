"""The deploy pipeline through the Python API against the real engine."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from machete_core.domain.naming import container_name
from machete_core.errors import BuildError, HealthCheckError, ToolBusyError, ToolExistsError
from machete_core.machete import Machete
from tests.integration.conftest import owned_objects
from tests.support.git_server import GitHTTPServer, commit_and_push, make_repo
from tests.support.http import get_text
from tests.support.images import http_tool_files

ENV_CGI = {
    "www/cgi-bin/env": '#!/bin/sh\necho "Content-Type: text/plain"\necho\nenv\n',
}


def new_repo(
    server: GitHTTPServer, files: dict[str, str], branch: str = "main"
) -> tuple[str, Path]:
    name = f"r{uuid.uuid4().hex[:8]}"
    work = make_repo(server.root, name, files, branch=branch)
    return server.url(f"{name}.git"), work


def with_env_cgi(files: dict[str, str]) -> dict[str, str]:
    files = {**files, **ENV_CGI}
    files["Dockerfile"] = files["Dockerfile"].replace(
        "COPY www /www\n", "COPY www /www\nRUN chmod 755 /www/cgi-bin/env\n"
    )
    return files


BUILD_OUTPUT = {"docker": "Step 1/", "buildx": "[internal] load build definition"}
PIPELINE = ["fetch", "manifest", "build", "start", "health", "promote", "route"]


@pytest.mark.parametrize("builder", ["docker", "buildx"])
def test_install_redeploy_and_remove(
    machete: Machete, git_server: GitHTTPServer, installation: str, builder: str
) -> None:
    files = http_tool_files("version one", extra_manifest=f"  builder: {builder}\n")
    url, work = new_repo(git_server, with_env_cgi(files))
    lines: list[str] = []
    op = machete.install(url, name="hello", on_line=lines.append)
    assert op.status == "succeeded" and op.tool_name == "hello"
    assert [s.name for s in op.steps] == PIPELINE
    assert any(BUILD_OUTPUT[builder] in line for line in lines)  # build output streamed live
    assert machete.releases("hello")[0].builder == builder
    view = machete.get("hello")
    assert (view.status, view.health, view.release) == ("running", "healthy", 1)
    assert view.url and get_text(view.url + "/") == "version one\n"
    env = get_text(view.url + "/cgi-bin/env")
    assert "GREETING=hi" in env and "PORT=8080" in env

    # Unchanged: nothing built, nothing restarted.
    first_instance = view.instance_id
    fetches_before = git_server.fetches
    again = machete.deploy("hello")
    assert [s.name for s in again.steps] == ["resolve"]
    assert git_server.fetches == fetches_before  # not even a fetch
    forced_fetch = machete.deploy("hello", force=True)
    assert [s.name for s in forced_fetch.steps] == [*PIPELINE, "retire"]
    first_instance = machete.get("hello").instance_id
    assert machete.get("hello").instance_id == first_instance

    # A new commit: a new release replaces the old instance.
    commit = commit_and_push(work, {"www/index.html": "version two\n"})
    machete.deploy("hello")
    view = machete.get("hello")
    assert view.release == 3 and view.commit == commit and view.instance_id != first_instance
    assert get_text(view.url + "/") == "version two\n"
    releases = machete.releases("hello")
    assert [(r.number, r.status) for r in releases] == [(3, "live"), (2, "retired"), (1, "retired")]
    containers, _images = owned_objects(installation)
    assert containers == [container_name(installation, "hello", 3)]

    # Logs of the running instance.
    assert any("tool starting on 8080" in line for line in machete.logs("hello", tail=50))

    machete.remove("hello")
    assert machete.list_tools() == []
    assert owned_objects(installation) == ([], [])


def test_failed_health_gate_keeps_the_old_release(
    machete: Machete, git_server: GitHTTPServer
) -> None:
    url, work = new_repo(git_server, http_tool_files("good"))
    machete.install(url, name="gated")
    good = machete.get("gated")
    # The next commit no longer serves its health path.
    commit_and_push(
        work,
        {
            "machete.yml": http_tool_files(health="/missing")["machete.yml"].replace(
                "health_check: /missing", "health_check: /missing\n  health_timeout: 3"
            )
        },
    )
    (work / "www" / "missing").unlink(missing_ok=True)
    with pytest.raises(HealthCheckError):
        machete.deploy("gated")
    view = machete.get("gated")
    assert view.status == "running" and view.release == 1 and view.instance_id == good.instance_id
    assert "release 2 failed" in (view.reason or "")
    assert get_text(view.url + "/") == "good\n"
    failed = machete.releases("gated")[0]
    assert failed.status == "failed" and "health check failed" in (failed.error or "")
    assert "tool starting" in (failed.error or "")  # the new container's last log lines are kept


def test_crashing_instance_fails_the_gate_fast(machete: Machete, git_server: GitHTTPServer) -> None:
    files = http_tool_files()
    files["Dockerfile"] = files["Dockerfile"].replace(
        'CMD ["sh", "-c", "echo tool starting on $PORT; exec httpd -f -v -p 8080 -h /www"]',
        'CMD ["sh", "-c", "echo about to crash; exit 3"]',
    )
    url, _work = new_repo(git_server, files)
    with pytest.raises(HealthCheckError) as info:
        machete.install(url, name="crashy")
    # Either seen exited (code 3) or already restarted by the engine: both fail the gate at once.
    assert "code 3" in info.value.message or "crashed and was restarted" in info.value.message
    view = machete.get("crashy")
    reason = view.reason or ""
    assert view.status == "failed" and ("code 3" in reason or "crashed" in reason)
    assert "about to crash" in (machete.releases("crashy")[0].error or "")


@pytest.mark.parametrize("builder", ["docker", "buildx"])
def test_build_failure_carries_the_last_lines(
    machete: Machete, git_server: GitHTTPServer, installation: str, builder: str
) -> None:
    files = http_tool_files(extra_manifest=f"  builder: {builder}\n")
    files["Dockerfile"] += 'RUN echo "compiling the thing" && exit 7\n'
    url, _work = new_repo(git_server, files)
    with pytest.raises(BuildError) as info:
        machete.install(url, name="broken")
    assert any("compiling the thing" in line for line in info.value.last_lines)
    assert machete.get("broken").status == "failed"
    op = machete.operations("broken")[0]
    assert op.status == "failed" and op.error_code == "build_failed"
    log_text, _ = machete.operation_log(op.id)
    assert "compiling the thing" in log_text
    assert owned_objects(installation)[0] == []


def test_stop_start_restart_and_data_volumes(
    machete: Machete, git_server: GitHTTPServer, settings: object
) -> None:
    files = http_tool_files(
        extra_manifest="  volumes:\n    - ./data:/www/data\n    - ./conf:/conf:ro\n"
    )
    url, _work = new_repo(git_server, files)
    machete.install(url, name="vol")
    data_dir = machete.tool_data_dir("vol")
    assert data_dir == machete.settings.home / "volumes" / "vol"
    (data_dir / "data" / "note.txt").write_text("kept\n")
    view = machete.get("vol")
    assert get_text(view.url + "/data/note.txt") == "kept\n"
    machete.stop("vol")
    assert machete.get("vol").status == "stopped"
    machete.start("vol")
    assert machete.get("vol").health == "healthy"
    machete.restart("vol")
    assert get_text(machete.get("vol").url + "/data/note.txt") == "kept\n"
    machete.remove("vol")
    assert (data_dir / "data" / "note.txt").read_text() == "kept\n"  # plain rm keeps data
    machete.install(url, name="vol")
    machete.remove("vol", purge=True)
    assert not data_dir.exists()


def test_absolute_host_volume_is_refused(machete: Machete, git_server: GitHTTPServer) -> None:
    url, _work = new_repo(
        git_server, http_tool_files(extra_manifest="  volumes:\n    - /etc:/host-etc\n")
    )
    with pytest.raises(Exception) as info:
        machete.install(url, name="abs")
    assert getattr(info.value, "code", "") == "volume_not_allowed"


def test_ref_and_master_default(machete: Machete, git_server: GitHTTPServer) -> None:
    url, _work = new_repo(git_server, http_tool_files("from master"), branch="master")
    machete.install(url)  # name from the manifest
    view = machete.get("hello-tool")
    assert get_text(view.url + "/") == "from master\n"


def test_name_conflicts_and_busy_tools(machete: Machete, git_server: GitHTTPServer) -> None:
    url, _work = new_repo(git_server, http_tool_files())
    machete.install(url, name="dup")
    with pytest.raises(ToolExistsError):
        machete.submit_install(url, name="dup")
    op = machete.submit("deploy", "dup")
    with pytest.raises(ToolBusyError):
        machete.submit("stop", "dup")
    machete.run(op.id)
    machete.stop("dup")


@pytest.mark.parametrize("builder", ["docker", "buildx"])
def test_build_context_is_the_tree_only(
    machete: Machete, git_server: GitHTTPServer, installation: str, builder: str
) -> None:
    files = http_tool_files("context", extra_manifest=f"  builder: {builder}\n")
    files["Dockerfile"] = files["Dockerfile"].replace(
        "COPY www /www\n", "COPY www /www\nCOPY . /www/ctx\n"
    )
    files[".dockerignore"] = "ignored.txt\nnotes/\n"
    files["ignored.txt"] = "must not be in the image\n"
    files["notes/todo.md"] = "neither this\n"
    files["kept.txt"] = "this is in the image\n"
    url, _work = new_repo(git_server, files)
    machete.install(url, name="ctx")
    base = machete.get("ctx").url
    assert get_text(f"{base}/ctx/kept.txt") == "this is in the image\n"
    from tests.support.http import request

    for path in ("ctx/ignored.txt", "ctx/notes/todo.md", "ctx/.git/config", "ctx/.git/HEAD"):
        assert request(f"{base}/{path}")[0] == 404, path


def test_logs_follow_streams_until_the_tool_stops(
    machete: Machete, git_server: GitHTTPServer
) -> None:
    import threading
    import time

    url, _work = new_repo(git_server, http_tool_files("followed"))
    machete.install(url, name="follow")
    base = machete.get("follow").url
    lines: list[str] = []

    def reader() -> None:
        for line in machete.logs("follow", tail=0, follow=True):
            lines.append(line)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not any("index.html" in line or "response:200" in line for line in lines):
        assert time.monotonic() < deadline, lines
        get_text(base + "/")
        time.sleep(0.2)
    machete.stop("follow")
    thread.join(timeout=30)
    assert not thread.is_alive()  # the stream ends with the container


def test_remote_frontend_is_refused_before_building(
    machete: Machete, git_server: GitHTTPServer
) -> None:
    files = http_tool_files()
    files["Dockerfile"] = "# syntax=evil.example/frontend:1\n" + files["Dockerfile"]
    url, _work = new_repo(git_server, files)
    with pytest.raises(Exception) as info:
        machete.install(url, name="frontend")
    assert getattr(info.value, "code", "") == "unsafe_dockerfile"
    assert machete.releases("frontend")[0].status == "failed"


@pytest.mark.parametrize("builder", ["docker", "buildx"])
def test_frontend_build_args_are_refused_by_both_builders(
    machete: Machete, git_server: GitHTTPServer, builder: str
) -> None:
    """The bypass of issue 10 item 3: BUILDKIT_SYNTAX as a build argument."""
    files = http_tool_files(
        extra_manifest=f"  builder: {builder}\n  build_args:\n    BUILDKIT_SYNTAX: evil/fe:1\n"
    )
    url, _work = new_repo(git_server, files)
    with pytest.raises(Exception) as info:
        machete.install(url, name=f"fe-{builder}")
    assert getattr(info.value, "code", "") == "unsafe_dockerfile"
    assert machete.releases(f"fe-{builder}")[0].status == "failed"


def test_builds_are_refused_on_an_engine_below_the_floors(
    settings: object, git_server: GitHTTPServer, busybox_image: str
) -> None:
    """This machine's engine (Docker 20.10, runc 1.1.5) is below the floors of threats.md;
    without the admin's acceptance nothing is built."""
    import attrs

    from machete_core.machete import create_machete
    from machete_plugins import BUILTIN_PLUGINS
    from machete_plugins.docker_engine import client, floor_problems

    api = client().api
    try:
        below = floor_problems(api.version())
    finally:
        api.close()
    if not below:
        pytest.skip(
            "this engine meets the runc/BuildKit floors, so it has no refusal to show; the rule is "
            "tested on engine answers (test_engine_floors_are_read_from_the_engine_answer)"
        )
    strict = attrs.evolve(settings, accept_engine_below_floor=False)  # type: ignore[misc]
    url, _work = new_repo(git_server, http_tool_files())
    with create_machete(strict, builtins=BUILTIN_PLUGINS) as m:
        with pytest.raises(Exception) as info:
            m.install(url, name="floored")
        assert getattr(info.value, "code", "") == "engine_below_floor"
        assert "MACHETE_ACCEPT_ENGINE_BELOW_FLOOR" in str(info.value)


def test_read_only_volume_and_data_across_redeploys(
    machete: Machete, git_server: GitHTTPServer
) -> None:
    files = http_tool_files(extra_manifest="  volumes:\n    - ./shared:/www/shared:ro\n")
    files["www/cgi-bin/write"] = (
        '#!/bin/sh\necho "Content-Type: text/plain"\necho\n'
        "touch /www/shared/new 2>/dev/null && echo ro-broken || echo ro-ok\n"
        'echo kept > "$DATA_DIR/mark" && echo data-ok\n'
    )
    files["Dockerfile"] = files["Dockerfile"].replace(
        "COPY www /www\n", "COPY www /www\nRUN chmod 755 /www/cgi-bin/write\n"
    )
    url, work = new_repo(git_server, files)
    machete.install(url, name="rovol")
    shared = machete.tool_data_dir("rovol") / "shared"
    (shared / "page.txt").write_text("from the host\n")
    view = machete.get("rovol")
    assert get_text(view.url + "/shared/page.txt") == "from the host\n"
    assert get_text(view.url + "/cgi-bin/write").split() == ["ro-ok", "data-ok"]
    assert (machete.tool_data_dir("rovol") / "data" / "mark").read_text() == "kept\n"
    commit_and_push(work, {"www/index.html": "second\n"})
    machete.deploy("rovol")
    view = machete.get("rovol")
    assert view.release == 2 and get_text(view.url + "/shared/page.txt") == "from the host\n"
    assert (machete.tool_data_dir("rovol") / "data" / "mark").read_text() == "kept\n"


def test_rollback_and_image_retention(
    settings: object, git_server: GitHTTPServer, busybox_image: str, installation: str
) -> None:
    import attrs

    from machete_core.machete import create_machete
    from machete_plugins import BUILTIN_PLUGINS

    m = create_machete(attrs.evolve(settings, keep_images=2), builtins=BUILTIN_PLUGINS)
    try:
        url, work = new_repo(git_server, http_tool_files("v1"))
        m.install(url, name="rb")
        commit_and_push(work, {"www/index.html": "v2\n"})
        m.deploy("rb")
        commit_and_push(work, {"www/index.html": "v3\n"})
        m.deploy("rb")
        rels = {r.number: r for r in m.releases("rb")}
        builder = m.core.builder(rels[1].builder)
        assert not builder.image_exists(rels[1].image_id or "")  # beyond the 2 kept
        assert builder.image_exists(rels[2].image_id or "") and builder.image_exists(
            rels[3].image_id or ""
        )

        op = m.rollback("rb")
        assert [s.name for s in op.steps] == [
            "choose",
            "start",
            "health",
            "promote",
            "route",
            "retire",
        ]
        view = m.get("rb")
        assert view.release == 4 and get_text(view.url + "/") == "v2\n"
        newest = m.releases("rb")[0]
        assert newest.trigger == "rollback to 2" and newest.image_id == rels[2].image_id
        assert m.releases("rb")[1].logs_tail  # the retired instance's last lines are kept

        with pytest.raises(Exception) as info:
            m.rollback("rb", release=1)
        assert "no longer kept" in str(info.value)
        m.rollback("rb", release=3)
        assert get_text(m.get("rb").url + "/") == "v3\n"
    finally:
        m.close()


@pytest.mark.parametrize("builder", ["docker", "buildx"])
def test_a_tool_cannot_build_on_another_tools_image(
    machete: Machete, git_server: GitHTTPServer, installation: str, builder: str
) -> None:
    """Issue 10 item 10: FROM another tool's image (by tag, through an ARG, or by id)."""
    from machete_core.domain.naming import image_repository

    vault_url, _ = new_repo(git_server, http_tool_files("vault secrets"))
    machete.install(vault_url, name="vault")
    vault_tag = f"{image_repository(installation, 'vault')}:r1"
    vault_id = machete.releases("vault")[0].image_id
    for n, dockerfile in enumerate(
        [
            f'FROM {vault_tag}\nCMD ["cat", "/www/index.html"]\n',
            f"ARG BASE={vault_tag}\nFROM $BASE\n",
            f"FROM {vault_id}\n",
        ]
    ):
        files = http_tool_files(extra_manifest=f"  builder: {builder}\n")
        files["Dockerfile"] = dockerfile
        url, _ = new_repo(git_server, files)
        with pytest.raises(Exception) as info:
            machete.install(url, name=f"thief{n}")
        assert getattr(info.value, "code", "") == "base_image_refused", info.value
