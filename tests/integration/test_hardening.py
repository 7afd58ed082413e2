"""Hardened runtime defaults, read back from the engine and from inside a running tool."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import docker
import pytest

from machete_core.errors import MacheteError
from machete_core.machete import Machete
from tests.integration.conftest import owned_networks
from tests.support.git_server import GitHTTPServer, commit_and_push, make_repo
from tests.support.http import get_text
from tests.support.images import http_tool_files

CGI = {
    "www/cgi-bin/status": '#!/bin/sh\necho "Content-Type: text/plain"\necho\n'
    "cat /proc/self/status\n",
    "www/cgi-bin/write": '#!/bin/sh\necho "Content-Type: text/plain"\necho\n'
    "touch /rootfile 2>/dev/null && echo root-ok || echo root-refused\n"
    "touch /tmp/x 2>/dev/null && echo tmp-ok || echo tmp-refused\n",
    "www/cgi-bin/reach": '#!/bin/sh\necho "Content-Type: text/plain"\necho\n'
    # busybox-static's wget crashes on NSS lookups; nc speaks just enough HTTP.
    "host=${QUERY_STRING%:*}; port=${QUERY_STRING#*:}\n"
    'printf "GET /health HTTP/1.0\\r\\n\\r\\n" | nc -w 3 "$host" "$port" | grep -q "200 OK"'
    " && echo REACHED || echo BLOCKED\n",
}


def tool_repo(server: GitHTTPServer, extra: str = "", tail: str = "") -> str:
    files = {**http_tool_files("hardened", extra_manifest=extra), **CGI}
    files["machete.yml"] += tail
    files["Dockerfile"] = files["Dockerfile"].replace(
        "COPY www /www\n", "COPY www /www\nRUN chmod 755 /www/cgi-bin/*\n"
    )
    name = f"h{uuid.uuid4().hex[:8]}"
    make_repo(server.root, name, files)
    return server.url(f"{name}.git")


def test_hardening_is_applied_and_visible_inside(
    machete: Machete, git_server: GitHTTPServer, installation: str
) -> None:
    tail = (
        "resources:\n  memory: 256Mi\n  cpu: 500m\n"
        "permissions:\n  filesystem:\n    read_only: true\n"
    )
    machete.install(tool_repo(git_server, tail=tail), name="hard")
    view = machete.get("hard")
    client = docker.from_env()
    try:
        host = client.containers.get(view.instance_id).attrs["HostConfig"]
    finally:
        client.close()
    assert host["CapDrop"] == ["ALL"] and not host.get("CapAdd")
    assert "no-new-privileges:true" in host["SecurityOpt"]
    assert host["PidsLimit"] == 512
    assert host["Memory"] == 256 * 1024**2 and host["MemorySwap"] == 256 * 1024**2
    assert host["NanoCpus"] == 500_000_000
    assert host["ReadonlyRootfs"] is True and "/tmp" in host["Tmpfs"]
    assert host["Privileged"] is False and not host.get("Binds")
    assert host["RestartPolicy"]["Name"] == "unless-stopped"
    assert host["NetworkMode"] == f"machete-{installation}-hard"
    assert not any("docker.sock" in str(m) for m in host.get("Mounts") or [])

    status = get_text(view.url + "/cgi-bin/status")
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    assert fields["CapEff"].strip() == "0000000000000000"
    assert fields["NoNewPrivs"].strip() == "1"
    assert get_text(view.url + "/cgi-bin/write").split() == ["root-refused", "tmp-ok"]

    machete.remove("hard")
    assert owned_networks(installation) == []


def test_tools_cannot_reach_each_other(
    machete: Machete, git_server: GitHTTPServer, installation: str
) -> None:
    machete.install(tool_repo(git_server), name="alpha")
    machete.install(tool_repo(git_server), name="beta")
    client = docker.from_env()
    try:

        def ip_of(name: str) -> str:
            attrs = client.containers.get(machete.get(name).instance_id).attrs
            return next(iter(attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]

        beta_ip, alpha_ip = ip_of("beta"), ip_of("alpha")
    finally:
        client.close()
    alpha = machete.get("alpha").url
    # Sanity: the probe works at all (alpha reaches itself on its own network)...
    assert get_text(f"{alpha}/cgi-bin/reach?{alpha_ip}:8080").strip() == "REACHED"
    # ...but not the other tool, whose network is not its own. (Only our own containers'
    # addresses are probed: nothing beyond this machine's Docker networks is ever a target.)
    assert get_text(f"{alpha}/cgi-bin/reach?{beta_ip}:8080").strip() == "BLOCKED"
    # A tool that declares the connection reaches beta; still not alpha.
    machete.install(tool_repo(git_server, extra="  connects_to: [beta]\n"), name="gamma")
    gamma = machete.get("gamma").url
    assert get_text(f"{gamma}/cgi-bin/reach?{beta_ip}:8080").strip() == "REACHED"
    assert get_text(f"{gamma}/cgi-bin/reach?{alpha_ip}:8080").strip() == "BLOCKED"
    assert sorted(owned_networks(installation)) == sorted(
        f"machete-{installation}-{n}" for n in ("alpha", "beta", "gamma")
    )


def test_docker_socket_is_refused_unless_allowed(
    machete: Machete, git_server: GitHTTPServer
) -> None:
    with pytest.raises(MacheteError) as info:
        machete.install(tool_repo(git_server, tail="permissions:\n  docker: true\n"), name="sock")
    assert info.value.code == "docker_access_refused"
    assert "MACHETE_DOCKER_SOCKET_TOOLS" in info.value.message


def test_a_link_in_the_data_directory_never_reaches_the_host(
    machete: Machete, git_server: GitHTTPServer, tmp_path: object
) -> None:
    """The attack of issue 10 item 1: link /data/rootlink to /, then mount through it."""
    marker = f"machete-pwned-{uuid.uuid4().hex[:8]}"
    files = {**http_tool_files("linker"), **CGI}
    files["www/cgi-bin/probe"] = (
        '#!/bin/sh\necho "Content-Type: text/plain"\necho\n'
        f"touch /x/{marker} 2>/dev/null; ls -a /x\n"
    )
    files["Dockerfile"] = (
        files["Dockerfile"]
        .replace("COPY www /www\n", "COPY www /www\nRUN chmod 755 /www/cgi-bin/*\n")
        .replace('CMD ["sh", "-c", "', 'CMD ["sh", "-c", "ln -sfn / /data/rootlink; ')
    )
    name = f"l{uuid.uuid4().hex[:8]}"
    work = make_repo(git_server.root, name, files)
    machete.install(git_server.url(f"{name}.git"), name="linker")
    link = machete.tool_data_dir("linker") / "data" / "rootlink"
    assert link.is_symlink()  # the tool did plant it
    manifest = files["machete.yml"] + "  volumes:\n    - ./data/rootlink/etc:/x\n"
    commit_and_push(work, {"machete.yml": manifest})
    machete.deploy("linker")
    view = machete.get("linker")
    assert view.release == 2 and view.health == "healthy"
    listing = get_text(view.url + "/cgi-bin/probe").split()
    assert "passwd" not in listing and "hostname" not in listing
    assert marker in listing  # the write landed in the tool's own volume...
    assert not (Path("/etc") / marker).exists()  # ...and not on the host
    source = next(m["Source"] for m in _mounts(view.instance_id) if m["Destination"] == "/x")
    assert Path(source).parent == machete.tool_data_dir("linker")
    assert os.path.realpath(source) == source


def _mounts(container_id: str | None) -> list[dict[str, str]]:
    client = docker.from_env()
    try:
        return list(client.containers.get(container_id).attrs["Mounts"])
    finally:
        client.close()


def test_two_installations_with_a_tool_of_the_same_name_never_touch(
    machete: Machete, git_server: GitHTTPServer, settings: object, installation: str
) -> None:
    """Issue 10 item 11: deploy, prune and remove side by side on one engine."""
    import attrs

    from machete_core.machete import create_machete
    from machete_plugins import BUILTIN_PLUGINS
    from tests.integration.conftest import owned_objects, purge_installation

    other_id = f"{installation}-b"
    other_settings = attrs.evolve(  # type: ignore[misc]
        settings,
        installation=other_id,
        home=Path(str(settings.home)) / "second",  # type: ignore[attr-defined]
        keep_images=1,
    )
    name = f"tw{uuid.uuid4().hex[:8]}"
    work = make_repo(git_server.root, name, http_tool_files("twin one"))
    url = git_server.url(f"{name}.git")
    try:
        with create_machete(other_settings, builtins=BUILTIN_PLUGINS) as other:
            machete.install(url, name="twin")
            other.install(url, name="twin")
            mine, theirs = owned_objects(installation), owned_objects(other_id)
            assert mine[0] and theirs[0] and not set(mine[0]) & set(theirs[0])
            assert not set(mine[1]) & set(theirs[1])  # distinct images, never retagged
            # A redeploy with pruning (keep 1) on one side leaves the other's images alone.
            commit_and_push(work, {"www/index.html": "twin two\n"})
            other.deploy("twin")
            other.deploy("twin", force=True)
            assert owned_objects(installation) == mine
            assert get_text(machete.get("twin").url + "/") == "twin one\n"
            assert get_text(other.get("twin").url + "/") == "twin two\n"
            # Removing one side's tool removes only its objects.
            other.remove("twin")
            assert owned_objects(other_id) == ([], [])
            assert owned_objects(installation) == mine
            assert machete.get("twin").health == "healthy"
    finally:
        purge_installation(other_id)
