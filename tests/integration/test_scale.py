"""One engine, many tools (issue 10 item 13): no network ceiling, and networks go with tools."""

from __future__ import annotations

import ipaddress
import os
import uuid
from concurrent.futures import ThreadPoolExecutor

import docker

from machete_core.machete import Machete
from tests.integration.conftest import owned_networks
from tests.support.git_server import GitHTTPServer, make_repo
from tests.support.images import http_tool_files

#: More than Docker's default address pools hold (about 31 bridge networks).
TOOLS = int(os.environ.get("MACHETE_TEST_SCALE_TOOLS", "100"))


def test_a_hundred_tools_on_one_engine(
    machete: Machete, git_server: GitHTTPServer, installation: str
) -> None:
    repo = f"many{uuid.uuid4().hex[:6]}"
    make_repo(git_server.root, repo, http_tool_files("one of many"))
    url = git_server.url(f"{repo}.git")
    names = [f"t{i:03d}" for i in range(TOOLS)]
    with ThreadPoolExecutor(max_workers=2) as pool:  # two at once, as a team would
        list(pool.map(lambda n: machete.install(url, name=n), names))
    views = {v.name: v for v in machete.list_tools()}
    assert all(views[n].status == "running" for n in names), [
        (n, views[n].status) for n in names if views[n].status != "running"
    ]
    networks = owned_networks(installation)
    assert len(networks) == TOOLS
    pool_net = ipaddress.ip_network(machete.settings.network_pool)
    client = docker.from_env()
    try:
        for name in networks:
            subnet = client.networks.get(name).attrs["IPAM"]["Config"][0]["Subnet"]
            assert ipaddress.ip_network(subnet).subnet_of(pool_net)  # type: ignore[arg-type]
    finally:
        client.close()
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(machete.remove, names))
    assert owned_networks(installation) == []


def test_an_orphans_network_goes_with_it(
    machete: Machete, git_server: GitHTTPServer, installation: str
) -> None:
    repo = f"orph{uuid.uuid4().hex[:6]}"
    make_repo(git_server.root, repo, http_tool_files("orphan"))
    machete.install(git_server.url(f"{repo}.git"), name="orphan")
    assert owned_networks(installation) == [f"machete-{installation}-orphan"]
    # The database forgets the tool (as after a crash mid-remove): its objects are orphans.
    tool = machete.store.get_tool("orphan")
    machete.store.delete_tool(tool.id)
    machete.reconcile(forget_unknown=True)
    assert owned_networks(installation) == []
