"""MACHETE's own rules keep tools apart while networks come and go (docs/security.md).

Docker deletes and re-inserts its isolation jump whenever a network is created or removed;
without MACHETE's table, about one probe in twenty got through while another program churned
networks (16 of 300 on this machine, with ``MACHETE_NETWORK_GUARD=off``)."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import attrs
import docker
import pytest

from machete_core.machete import Machete, create_machete
from machete_core.settings import Settings
from machete_plugins import BUILTIN_PLUGINS, network_guard
from tests.support.git_server import GitHTTPServer, make_repo
from tests.support.http import get_text
from tests.support.images import http_tool_files

pytestmark = pytest.mark.skipif(
    shutil.which("nft") is None or os.geteuid() != 0,
    reason="needs root and nft (scripts/setup.sh installs it)",
)

#: Ten probes at once, each given a second; prints one line per probe that got an answer.
PROBES = {
    "www/cgi-bin/probe": '#!/bin/sh\necho "Content-Type: text/plain"\necho\n'
    "host=${QUERY_STRING%:*}; port=${QUERY_STRING#*:}\n"
    "for i in 1 2 3 4 5 6 7 8 9 10; do\n"
    '  (printf "GET /health HTTP/1.0\\r\\n\\r\\n" | timeout 1 nc "$host" "$port" '
    '| grep -q "200 OK" && echo REACHED) &\n'
    "  sleep 0.05\ndone\nwait\n",
}
ROUNDS = 30


def probe_tool(server: GitHTTPServer) -> str:
    files = {**http_tool_files("prober"), **PROBES}
    files["Dockerfile"] = files["Dockerfile"].replace(
        "COPY www /www\n", "COPY www /www\nRUN chmod 755 /www/cgi-bin/*\n"
    )
    name = f"g{uuid.uuid4().hex[:8]}"
    make_repo(server.root, name, files)
    return server.url(f"{name}.git")


def guarded_bridges(set_name: str = "bridges") -> set[str]:
    out = subprocess.run(
        ["nft", "-j", "list", "set", "inet", "machete", set_name],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {
        e
        for item in json.loads(out)["nftables"]
        for e in (item.get("set") or {}).get("elem", [])
        if isinstance(e, str)
    }


def tool_network(client: docker.DockerClient, installation: str, tool: str) -> dict:
    return client.api.inspect_network(f"machete-{installation}-{tool}")


def churn(client: docker.DockerClient, installation: str, stop: threading.Event) -> int:
    """Create and remove bridge networks until told to stop, as another program on the
    engine might (another installation's deploys, a compose stack); how many it made."""
    made = 0
    while not stop.is_set():
        name = f"machete-{installation}-churn{made}"
        ipam = docker.types.IPAMConfig(
            pool_configs=[docker.types.IPAMPool(subnet=f"10.219.{made % 250}.0/28")]
        )
        network = client.networks.create(name, driver="bridge", ipam=ipam)
        network.remove()
        made += 1
    return made


def isolation_lapses(stop: threading.Event, seen: list[int]) -> None:
    """Count the samples of FORWARD without Docker's isolation jump (for the report)."""
    while not stop.is_set():
        rules = subprocess.run(
            ["iptables", "-S", "FORWARD"], capture_output=True, text=True, check=False
        ).stdout
        seen[0] += 1
        if "-j DOCKER-ISOLATION-STAGE-1" not in rules:
            seen[1] += 1


def test_tools_stay_apart_while_networks_come_and_go(
    machete: Machete, git_server: GitHTTPServer, installation: str
) -> None:
    repo = probe_tool(git_server)
    machete.install(repo, name="alpha")
    machete.install(repo, name="beta")
    client = docker.from_env()
    try:
        beta_ip = next(
            iter(
                client.containers.get(machete.get("beta").instance_id)
                .attrs["NetworkSettings"]["Networks"]
                .values()
            )
        )["IPAddress"]
        bridges = {
            network_guard.bridge_of(tool_network(client, installation, t))
            for t in ("alpha", "beta")
        }
        assert bridges <= guarded_bridges()
        alpha, beta = machete.get("alpha").url, machete.get("beta").url
        # The probe works: beta reaches itself ten times in ten.
        assert get_text(f"{beta}/cgi-bin/probe?{beta_ip}:8080").count("REACHED") == 10

        stop = threading.Event()
        samples = [0, 0]
        made: list[int] = []
        threads = [
            threading.Thread(target=lambda: made.append(churn(client, installation, stop))),
            threading.Thread(target=isolation_lapses, args=(stop, samples)),
        ]
        for thread in threads:
            thread.start()
        reached = 0
        try:
            for _ in range(ROUNDS):
                reached += get_text(f"{alpha}/cgi-bin/probe?{beta_ip}:8080").count("REACHED")
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
        assert made and made[0] > 10, "the churn made too few networks to test anything"
        assert reached == 0, (
            f"{reached} of {ROUNDS * 10} probes reached another tool while {made[0]} networks "
            f"came and went (Docker's isolation jump was missing in {samples[1]} of "
            f"{samples[0]} samples)"
        )
    finally:
        client.close()


def test_the_rules_come_back_after_a_firewall_reload(
    machete: Machete, git_server: GitHTTPServer, installation: str
) -> None:
    """A firewall reload (``nft flush ruleset``, a host restart) empties the table; the next
    network MACHETE makes, or the reconciler's next look, makes it again with every bridge."""
    repo = probe_tool(git_server)
    machete.install(repo, name="first")
    client = docker.from_env()
    try:
        first = network_guard.bridge_of(tool_network(client, installation, "first"))
        assert first in guarded_bridges()
        subprocess.run(["nft", "delete", "table", "inet", "machete"], check=True)
        machete.install(repo, name="second")
        second = network_guard.bridge_of(tool_network(client, installation, "second"))
        assert {first, second} <= guarded_bridges()
        # Removing a tool takes its bridge out at the next check, not the others'.
        machete.remove("second")
        network_guard.NetworkGuard("auto").check(client, force=True)
        held = guarded_bridges()
        assert first in held and second not in held
    finally:
        client.close()


METADATA = "169.254.169.254"


def sh(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True)


@pytest.fixture
def fake_metadata(tmp_path: Path) -> Iterator[str]:
    """A metadata service at 169.254.169.254:80 that the host routes to, as a cloud's is: an
    HTTP server in a network namespace behind a veth pair (198.51.100.0/30, a documentation
    range), the host's route to that address pointing there while the test runs."""
    ns = f"mdt{uuid.uuid4().hex[:6]}"
    host_side, ns_side = f"{ns}h", f"{ns}n"
    (tmp_path / "health").write_text("instance credentials\n")
    server = None
    sh("ip", "netns", "add", ns)
    try:
        sh("ip", "link", "add", host_side, "type", "veth", "peer", "name", ns_side)
        sh("ip", "link", "set", ns_side, "netns", ns)
        sh("ip", "addr", "add", "198.51.100.1/30", "dev", host_side)
        sh("ip", "link", "set", host_side, "up")
        inside = ("ip", "netns", "exec", ns)
        sh(*inside, "ip", "addr", "add", "198.51.100.2/30", "dev", ns_side)
        sh(*inside, "ip", "link", "set", ns_side, "up")
        sh(*inside, "ip", "link", "set", "lo", "up")
        sh(*inside, "ip", "addr", "add", f"{METADATA}/32", "dev", "lo")
        sh(*inside, "ip", "route", "add", "default", "via", "198.51.100.1")
        sh("ip", "route", "add", f"{METADATA}/32", "via", "198.51.100.2")
        server = subprocess.Popen(
            [*inside, sys.executable, "-m", "http.server", "--bind", METADATA, "80"],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:  # the host reaches it, as a cloud machine reaches its metadata service
            try:
                conn = http.client.HTTPConnection(METADATA, 80, timeout=1)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
            finally:
                conn.close()
        yield METADATA
    finally:
        if server is not None:
            server.kill()
            server.wait()
        subprocess.run(["ip", "route", "del", f"{METADATA}/32"], check=False)
        subprocess.run(["ip", "link", "del", host_side], check=False)
        subprocess.run(["ip", "netns", "del", ns], check=False)


def test_tools_cannot_reach_the_cloud_metadata_service_unless_allowed(
    machete: Machete,
    git_server: GitHTTPServer,
    installation: str,
    settings: Settings,
    fake_metadata: str,
) -> None:
    # A container the guard does not know (Docker's default bridge) reaches the service: the
    # route from containers to it works.
    client = docker.from_env()
    try:
        plain = client.containers.run(
            "machete-test/busybox",
            [
                "sh",
                "-c",
                f'printf "GET /health HTTP/1.0\\r\\n\\r\\n" | timeout 5 nc {fake_metadata} 80',
            ],
            network_mode="bridge",
            remove=True,
        )
    finally:
        client.close()
    assert b"200 OK" in plain

    repo = probe_tool(git_server)
    machete.install(repo, name="closed")
    closed = machete.get("closed").url
    assert get_text(f"{closed}/cgi-bin/probe?{fake_metadata}:80").count("REACHED") == 0

    # An admin lets this installation's tools reach it: its bridges leave the set.
    allowing = create_machete(
        attrs.evolve(settings, allow_cloud_metadata=True), builtins=BUILTIN_PLUGINS
    )
    try:
        allowing.install(repo, name="open")
        opened = allowing.get("open").url
        assert get_text(f"{opened}/cgi-bin/probe?{fake_metadata}:80").count("REACHED") == 10
        client = docker.from_env()
        try:
            bridges = {
                network_guard.bridge_of(tool_network(client, installation, t))
                for t in ("closed", "open")
            }
        finally:
            client.close()
        assert bridges <= guarded_bridges()  # still kept apart from other tools
        assert not bridges & guarded_bridges("no_metadata")
    finally:
        allowing.close()
