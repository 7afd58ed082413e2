"""MACHETE's own rules keep tools apart while networks come and go (docs/security.md).

Docker deletes and re-inserts its isolation jump whenever a network is created or removed;
without MACHETE's table, about one probe in twenty got through while another program churned
networks (16 of 300 on this machine, with ``MACHETE_NETWORK_GUARD=off``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import uuid

import docker
import pytest

from machete_core.machete import Machete
from machete_plugins import network_guard
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


def guarded_bridges() -> set[str]:
    out = subprocess.run(
        ["nft", "-j", "list", "set", "inet", "machete", "bridges"],
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
