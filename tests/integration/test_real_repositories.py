"""Repositories shaped like real ones (no manifest) install unchanged on a Debian base, and
the ones that cannot fail fast with their fix (issue 12). The base is made with debootstrap
(scripts/debian-base.sh, cached on the machine)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from machete_core.domain.spec import ToolOverrides
from machete_core.errors import BuildError, HealthCheckError, InvalidInputError
from machete_core.machete import Machete, create_machete
from machete_core.settings import Settings
from machete_plugins import BUILTIN_PLUGINS
from tests.support import repos
from tests.support.cli import run_cli
from tests.support.git_server import GitHTTPServer, git, make_repo, write_files
from tests.support.http import auth_headers, request
from tests.support.images import DEBIAN_IMAGE, ensure_debian_image, http_tool_files
from tests.support.registry import LocalRegistry
from tests.support.server import call, running_server, tools_base, wait_op

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def debian_image() -> str:
    return ensure_debian_image()


@pytest.fixture
def patient(settings: Settings) -> Iterator[Machete]:
    """A health timeout no test waits out: a failure before it is the gate giving up."""
    m = create_machete(attrs.evolve(settings, health_timeout=600.0), builtins=BUILTIN_PLUGINS)
    yield m
    m.close()


def _repo(server: GitHTTPServer, files: dict[str, str]) -> str:
    name = f"r{uuid.uuid4().hex[:8]}"
    make_repo(server.root, name, files)
    return server.url(f"{name}.git")


def _install(m: Machete, url: str, name: str, **overrides: object) -> list[str]:
    lines: list[str] = []
    m.install(url, name=name, overrides=ToolOverrides(**overrides), on_line=lines.append)  # type: ignore[arg-type]
    return lines


def _get(m: Machete, name: str, path: str = "/") -> tuple[int, bytes]:
    url = m.get(name).url
    assert url, m.get(name)
    return request(url + path, follow=0)


def test_flask_honouring_port_without_health_is_healthy_unchanged(
    machete: Machete, git_server: GitHTTPServer
) -> None:
    lines = _install(machete, _repo(git_server, repos.flask_honouring_port()), "flasky")
    assert "port 8080 (the default: nothing declares one)" in lines
    assert any("anything but a 5xx" in line for line in lines)
    assert machete.get("flasky").status == "running"
    assert _get(machete, "flasky") == (200, b"hello from flask")


def test_a_hard_coded_port_is_read_from_expose(machete: Machete, git_server: GitHTTPServer) -> None:
    lines = _install(machete, _repo(git_server, repos.hard_coded_5000()), "five")
    assert "port 5000 (from EXPOSE)" in lines
    view = machete.get("five")
    assert (view.status, view.port) == ("running", 5000)


def test_healthcheck_gives_the_health_path_and_the_image_check_is_off(
    machete: Machete, git_server: GitHTTPServer
) -> None:
    import docker

    lines = _install(machete, _repo(git_server, repos.streamlit_like_healthcheck()), "lit")
    assert "port 8501 (from HEALTHCHECK)" in lines
    assert "health check GET /_stcore/health (from HEALTHCHECK)" in lines
    view = machete.get("lit")
    assert view.health_check == "/_stcore/health" and view.health == "healthy"
    client = docker.from_env()
    try:
        attrs_ = client.api.inspect_container(view.instance_id)
    finally:
        client.close()
    # docker ps agrees with machete status: no "(unhealthy)" from the image's own check.
    assert attrs_["Config"]["Healthcheck"]["Test"] == ["NONE"]
    assert "Health" not in attrs_["State"]


def test_a_tool_in_a_monorepo_folder_installs_with_one_option(
    machete: Machete, git_server: GitHTTPServer
) -> None:
    url = _repo(git_server, repos.monorepo())
    with pytest.raises(InvalidInputError, match="--subdir DIR"):
        machete.install(url, name="mono")
    lines = _install(machete, url, "mono", subdir="services/api")
    assert "the tool is in the folder services/api" in lines and "port 7000 (from EXPOSE)" in lines
    assert machete.get("mono").status == "running"
    # Stored with the tool: the next deploy builds the same folder.
    machete.deploy("mono", force=True)
    assert machete.get("mono").status == "running"


def test_a_build_stage_installs_with_one_option(
    patient: Machete, git_server: GitHTTPServer
) -> None:
    url = _repo(git_server, repos.dev_stage_last())
    lines = _install(patient, url, "staged", target="app")
    assert "port 6000 (from EXPOSE)" in lines
    assert patient.get("staged").status == "running"
    assert _get(patient, "staged")[0] == 200


def test_a_lower_case_dockerfile(machete: Machete, git_server: GitHTTPServer) -> None:
    lines = _install(machete, _repo(git_server, repos.lower_case_dockerfile()), "lower")
    assert "dockerfile dockerfile (found as Docker's CLI finds it)" in lines
    assert machete.get("lower").status == "running"


def test_a_non_root_user_can_write_its_data(machete: Machete, git_server: GitHTTPServer) -> None:
    lines = _install(machete, _repo(git_server, repos.non_root_writing_data()), "nonroot")
    assert any("runs as uid 1234" in line for line in lines)
    assert _get(machete, "nonroot")[0] == 200
    data = machete.tool_data_dir("nonroot") / "data"
    assert data.stat().st_uid == 1234
    assert "/" in (data / "visits").read_text()


def test_a_wrong_port_fails_fast_naming_the_right_one(
    patient: Machete, git_server: GitHTTPServer
) -> None:
    url = _repo(git_server, repos.listens_on_8501())
    with pytest.raises(HealthCheckError) as caught:
        patient.install(url, name="wrongport")
    # This message is the gate giving up early; its timeout (600 s) would say "no healthy
    # answer ... within".
    message = caught.value.message
    assert "the tool listens on 8501, not 8080: pass --port 8501 or set machete.port" in message
    # The fix it names works, and the failed first install is simply retried.
    _install(patient, url, "wrongport", port=8501)
    assert patient.get("wrongport").status == "running"


def test_a_health_path_that_answers_404_fails_fast(
    patient: Machete, git_server: GitHTTPServer
) -> None:
    url = _repo(git_server, repos.hard_coded_5000())
    with pytest.raises(HealthCheckError) as caught:
        patient.install(url, name="nohealth", overrides=ToolOverrides(health_path="/health"))
    assert caught.value.message.startswith("/health answered 404 for 10 s")
    assert "Set --health-path PATH (or none" in caught.value.message
    # `machete logs` of the failed tool shows what its instance printed, and says so.
    lines = list(patient.logs("nohealth"))
    assert "is not running; the last lines of release 1, which failed" in lines[0]
    assert any("listening on 5000" in line for line in lines)
    # Retried with the fix, under the same name.
    patient.set_overrides("nohealth", ToolOverrides(health_path="none"))
    patient.install(url, name="nohealth", overrides=ToolOverrides(health_path="none"))
    assert patient.get("nohealth").status == "running"


def test_an_install_that_failed_before_building_says_why(
    machete: Machete, git_server: GitHTTPServer
) -> None:
    url = _repo(git_server, {"README.md": "no Dockerfile here\n"})
    with pytest.raises(InvalidInputError):
        machete.install(url, name="empty")
    view = machete.get("empty", probe_health=False)
    assert view.status == "failed" and "no Dockerfile or dockerfile" in (view.reason or "")


@pytest.mark.parametrize("builder", ["docker", "buildx"])
def test_build_failures_lead_with_their_cause(
    settings: Settings, git_server: GitHTTPServer, builder: str
) -> None:
    with create_machete(
        attrs.evolve(settings, default_builder=builder), builtins=BUILTIN_PLUGINS
    ) as m:
        url = _repo(git_server, {"Dockerfile": "FROM nosuch/base:1\nCMD x\n"})
        with pytest.raises(BuildError) as caught:
            m.install(url, name="nobase")
        first = caught.value.message.splitlines()[0]
        assert first.startswith("the base image nosuch/base:1 is not available on this machine")
        url = _repo(git_server, {"Dockerfile": f"FROM {DEBIAN_IMAGE}\nRUNN echo hi\n"})
        with pytest.raises(BuildError) as caught:
            m.install(url, name="typo")
        assert caught.value.message.splitlines()[0] == (
            "unknown instruction RUNN at line 2 of the Dockerfile"
        )


def test_a_plain_folder_and_a_dirty_working_tree_install_from_the_cli(
    env: dict[str, str], tmp_path: Path, busybox_image: str
) -> None:
    plain = tmp_path / "plain-tool"
    write_files(plain, http_tool_files("from a plain folder"))
    run_cli(env, "install", str(plain), "--name", "plain")
    url = json.loads(run_cli(env, "status", "plain", "--json").stdout)["url"]
    assert request(url + "/", follow=0) == (200, b"from a plain folder\n")
    # A working tree with an uncommitted change: --dirty deploys the files as they are.
    tree = tmp_path / "tree"
    write_files(tree, http_tool_files("committed"))
    git("init", "-q", "-b", "main", ".", cwd=tree)
    git("add", "-A", cwd=tree)
    git("commit", "-q", "-m", "one", cwd=tree)
    write_files(tree, {"www/index.html": "uncommitted\n"})
    run_cli(env, "install", str(tree), "--name", "dirty", "--dirty")
    url = json.loads(run_cli(env, "status", "dirty", "--json").stdout)["url"]
    assert request(url + "/", follow=0) == (200, b"uncommitted\n")


def test_an_official_frontend_that_cannot_be_fetched_says_exactly_that(
    settings: Settings, git_server: GitHTTPServer, busybox_image: str
) -> None:
    with create_machete(
        attrs.evolve(settings, default_builder="buildx"), builtins=BUILTIN_PLUGINS
    ) as m:
        files = http_tool_files("x")
        files["Dockerfile"] = "# syntax=docker/dockerfile:1\n" + files["Dockerfile"]
        with pytest.raises(BuildError) as caught:
            m.install(_repo(git_server, files), name="syntax")
    message = caught.value.message
    assert "the Dockerfile's frontend docker/dockerfile:1 (# syntax=) cannot be fetched" in message
    assert "registry cannot be reached" in message


def test_an_allowed_frontend_is_pinned_by_digest_from_its_registry(
    settings: Settings, git_server: GitHTTPServer, busybox_image: str, registry: LocalRegistry
) -> None:
    import docker

    frontend = f"{registry.address}/team/dockerfile"
    client = docker.from_env()
    try:
        client.images.get(busybox_image).tag(frontend, "1")
        client.images.push(frontend, tag="1")
    finally:
        client.close()
    allowed = attrs.evolve(
        settings, default_builder="buildx", allowed_dockerfile_frontends=(frontend,)
    )
    lines: list[str] = []
    with create_machete(allowed, builtins=BUILTIN_PLUGINS) as m:
        files = http_tool_files("x")
        files["Dockerfile"] = f"# syntax={frontend}:1\n" + files["Dockerfile"]
        with pytest.raises(BuildError):  # busybox is no frontend: the pin is what is shown
            m.install(_repo(git_server, files), name="pinned", on_line=lines.append)
    pinned = [line for line in lines if "is pinned to" in line]
    assert pinned and f"{frontend}@sha256:" in pinned[0]


def test_builds_behind_a_company_proxy_with_an_extra_ca(
    settings: Settings, git_server: GitHTTPServer, busybox_image: str, tmp_path: Path
) -> None:
    import docker

    bundle = tmp_path / "company-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\nMIIcompany\n-----END CERTIFICATE-----\n")
    behind = attrs.evolve(
        settings,
        default_builder="buildx",
        build_http_proxy="http://proxy.example.internal:3128",
        build_no_proxy="localhost,.internal",
        build_ca_bundle=str(bundle),
    )
    files = http_tool_files("behind a proxy")
    files["Dockerfile"] = files["Dockerfile"].replace(
        "COPY www /www\n",
        "COPY www /www\n"
        'RUN echo "$HTTP_PROXY $no_proxy" > /proxy-seen\n'
        "RUN --mount=type=secret,id=machete_ca cp /run/secrets/machete_ca /ca-asked-for\n",
    )
    lines: list[str] = []
    with create_machete(behind, builtins=BUILTIN_PLUGINS) as m:
        m.install(_repo(git_server, files), name="proxied", on_line=lines.append)
        image = m.releases("proxied")[0].image_id
    assert "the extra CA bundle is offered to the build as the secret machete_ca" in lines
    client = docker.from_env()
    try:

        def read(path: str) -> str:
            out = client.containers.run(image, ["cat", path], remove=True, entrypoint=[])
            return bytes(out).decode()

        assert (
            read("/proxy-seen").strip() == "http://proxy.example.internal:3128 localhost,.internal"
        )
        # The tool asked for the bundle (copied it): only then is it in the image.
        assert "MIIcompany" in read("/ca-asked-for")
        config = client.api.inspect_image(image)["Config"]
        assert not any("proxy.example" in e for e in config.get("Env") or [])
        history = client.api.history(image)
        assert not any("proxy.example" in (h.get("CreatedBy") or "") for h in history)
        assert not any("MIIcompany" in (h.get("CreatedBy") or "") for h in history)
    finally:
        client.close()


def test_a_redirect_to_the_tool_s_root_stays_under_its_path(
    env: dict[str, str], git_server: GitHTTPServer
) -> None:
    import http.client

    with running_server(env) as (base, _proc):
        _status, body = call(
            "POST",
            f"{base}/api/tools",
            {"url": _repo(git_server, repos.hard_coded_5000()), "name": "redir"},
        )
        assert wait_op(base, body["operation_id"])["status"] == "succeeded"
        tools = tools_base(base).removeprefix("http://")
        host, port = tools.split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            conn.request("GET", "/tools/redir/redirect", headers=auth_headers(base))
            resp = conn.getresponse()
            resp.read()
        finally:
            conn.close()
    assert resp.status == 302 and resp.getheader("Location") == "/tools/redir/?x=1"
