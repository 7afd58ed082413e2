"""Host-side hooks: plugins add CLI commands (``machete.cli`` entry points) and web routes
(the ``machete_web_routes`` hook), and a broken or clashing one is reported, never fatal."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from machete_core.machete import Machete, create_machete
from machete_core.plugins import hookimpl
from machete_core.settings import Settings
from machete_plugins import BUILTIN_PLUGINS
from machete_web import create_app
from machete_web.hookspecs import WebRoute
from tests.support.people import owner_headers

CLI_PLUGIN = """
from machete_cli.hookspecs import CliCommand, hookimpl

@hookimpl
def machete_cli_commands():
    return [
        CliCommand("hello", "fake_cmds_impl:hello", "Say hello from a plugin."),
        CliCommand("ls", "fake_cmds_impl:hello", "Tries to take a bundled name."),
        CliCommand("broken", "fake_cmds_missing:nothing", "Cannot be loaded."),
    ]
"""
CLI_IMPL = '''
import click
open(__import__("os").environ["MARK"], "w").write("imported")

@click.command()
@click.argument("who", default="world")
def hello(who):
    """Say hello."""
    click.echo(f"hello, {who}")
'''
RAISING = """
from machete_cli.hookspecs import hookimpl

@hookimpl
def machete_cli_commands():
    raise RuntimeError("this plugin is broken")
"""


@pytest.fixture
def cli_site(tmp_path: Path) -> Iterator[dict[str, str]]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "fake_cmds.py").write_text(textwrap.dedent(CLI_PLUGIN))
    (site / "fake_cmds_impl.py").write_text(textwrap.dedent(CLI_IMPL))
    (site / "fake_raising.py").write_text(textwrap.dedent(RAISING))
    for dist, module in (("fake_cmds", "fake_cmds"), ("fake_raising", "fake_raising")):
        info = site / f"{dist}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[machete.cli]\n{dist} = {module}\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
        "MARK": str(tmp_path / "imported"),
        "MACHETE_HOME": str(tmp_path / "home"),
    }
    yield env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "machete_cli", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_a_plugin_command_is_listed_without_importing_it_and_runs(
    cli_site: dict[str, str], tmp_path: Path
) -> None:
    listed = _cli(cli_site, "--help")
    assert listed.returncode == 0, listed.stderr
    assert "hello" in listed.stdout and "Say hello from a plugin." in listed.stdout
    assert not (tmp_path / "imported").exists()  # listing imported only the registration
    ran = _cli(cli_site, "hello", "team")
    assert ran.returncode == 0 and ran.stdout.strip() == "hello, team"
    assert (tmp_path / "imported").exists()


def test_clashing_broken_and_unloadable_plugin_commands_are_reported(
    cli_site: dict[str, str],
) -> None:
    listed = _cli(cli_site, "--help")
    assert "fake_raising failed: this plugin is broken" in listed.stderr
    assert "offers 'ls', which is taken" in listed.stderr
    # The bundled ls is still the bundled one.
    assert "List installed tools." in listed.stdout
    broken = _cli(cli_site, "broken")
    assert broken.returncode != 0
    assert "could not be loaded from fake_cmds_missing:nothing" in broken.stderr
    assert "Traceback" not in broken.stderr


async def _hello(request: web.Request) -> web.Response:
    return web.json_response({"hello": request.match_info["who"]})


class RoutesPlugin:
    @hookimpl
    def machete_web_routes(self) -> list[WebRoute]:
        return [
            WebRoute("GET", "/api/x-hello/{who}", _hello),
            WebRoute("GET", "/api/tools", _hello),  # taken: skipped
        ]


class RaisingRoutes:
    @hookimpl
    def machete_web_routes(self) -> list[WebRoute]:
        raise RuntimeError("no routes today")


@pytest.fixture
def machete(tmp_path: Path) -> Iterator[Machete]:
    m = create_machete(Settings(home=tmp_path / "home"), builtins=BUILTIN_PLUGINS)
    m.plugins.register(RoutesPlugin(), "routes")
    m.plugins.register(RaisingRoutes(), "raising-routes")
    yield m
    m.close()


async def test_a_plugin_adds_web_routes(aiohttp_client: Any, machete: Machete) -> None:
    client = await aiohttp_client(create_app(machete=machete), headers=owner_headers(machete))
    resp = await client.get("/api/x-hello/team")
    assert resp.status == 200 and await resp.json() == {"hello": "team"}
    # A route the API serves stays the API's.
    listing = await client.get("/api/tools")
    assert "tools" in await listing.json()
    # A plugin that raised is reported, and the server started all the same.
    failed = {p.name: p for p in machete.plugin_infos()}["raising-routes"]
    assert failed.status == "failed" and "no routes today" in (failed.error or "")
