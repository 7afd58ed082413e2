"""Plugins found through real entry points of fake distributions on sys.path."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from machete_core.domain.records import Event
from machete_core.errors import PluginConflictError, ProviderNotFoundError
from machete_core.plugins import hookimpl
from machete_core.plugins.manager import PluginManager
from machete_plugins import BUILTIN_PLUGINS

RUNTIME_PLUGIN = """
from machete_core.plugins import hookimpl
from machete_core.plugins.records import RuntimeProvider

EVENTS = []

@hookimpl
def machete_register_runtimes():
    return [RuntimeProvider(name="{provider}", factory=lambda s: object(), description="fake")]

@hookimpl
def machete_on_event(event):
    EVENTS.append(event.kind)
"""


def make_dist(site: Path, dist: str, module: str, code: str, ep_name: str | None = None) -> None:
    (site / f"{module}.py").write_text(textwrap.dedent(code))
    # Wheel rules: "-" in the name becomes "_" in the folder (importlib parses the folder name).
    info = site / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[machete]\n{ep_name or module} = {module}\n")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "site"
    path.mkdir()
    sys.path.insert(0, str(path))
    yield path
    sys.path.remove(str(path))
    for name in [m for m in sys.modules if m.startswith("fake_")]:
        del sys.modules[name]


def test_builtins_come_through_the_entry_point_group() -> None:
    pm = PluginManager(builtins=BUILTIN_PLUGINS)
    infos = {i.name: i for i in pm.plugins()}
    assert {"git", "docker-builder", "buildx-builder", "docker-runtime"} <= set(infos)
    assert all(
        infos[n].builtin and infos[n].distribution == "machete" for n in ("git", "docker-builder")
    )
    assert set(pm.providers("source")) == {"git", "tarball"}
    assert set(pm.providers("builder")) == {"docker", "buildx"}
    assert set(pm.providers("runtime")) == {"docker", "swarm"}


def test_good_plugin_loads_and_observes_events(site: Path) -> None:
    make_dist(site, "fake-good", "fake_good", RUNTIME_PLUGIN.format(provider="fakert"))
    pm = PluginManager(builtins=BUILTIN_PLUGINS)
    info = {i.name: i for i in pm.plugins()}["fake_good"]
    assert (info.status, info.distribution, info.version, info.kinds) == (
        "ok",
        "fake-good",
        "1.2.3",
        ("runtime",),
    )
    assert not info.builtin
    assert "fakert" in pm.providers("runtime")
    pm.emit(Event(kind="test.event"))
    assert sys.modules["fake_good"].EVENTS == ["test.event"]


def test_plugin_that_fails_to_import_is_listed_as_failed(site: Path) -> None:
    make_dist(site, "fake-broken", "fake_broken", "import does_not_exist_anywhere\n")
    pm = PluginManager(builtins=BUILTIN_PLUGINS)
    info = {i.name: i for i in pm.plugins()}["fake_broken"]
    assert info.status == "failed"
    assert "does_not_exist_anywhere" in (info.error or "")
    assert set(pm.providers("source")) == {"git", "tarball"}  # everything else still works


def test_registration_hook_that_raises_is_reported(site: Path) -> None:
    make_dist(
        site,
        "fake-raises",
        "fake_raises",
        """
        from machete_core.plugins import hookimpl

        @hookimpl
        def machete_register_builders():
            raise RuntimeError("boom")
    """,
    )
    pm = PluginManager(builtins=BUILTIN_PLUGINS)
    info = {i.name: i for i in pm.plugins()}["fake_raises"]
    assert info.status == "failed" and "boom" in (info.error or "")
    assert set(pm.providers("builder")) == {"docker", "buildx"}


def test_duplicate_provider_names_are_a_startup_error_naming_both(site: Path) -> None:
    make_dist(site, "fake-one", "fake_one", RUNTIME_PLUGIN.format(provider="same"))
    make_dist(site, "fake-two", "fake_two", RUNTIME_PLUGIN.format(provider="same"))
    pm = PluginManager(builtins=BUILTIN_PLUGINS)
    with pytest.raises(PluginConflictError) as info:
        pm.providers("runtime")
    assert "fake-one" in info.value.message and "fake-two" in info.value.message
    assert "'same'" in info.value.message


def test_clash_with_a_bundled_provider_is_an_error(site: Path) -> None:
    make_dist(site, "fake-docker", "fake_docker", RUNTIME_PLUGIN.format(provider="docker"))
    with pytest.raises(PluginConflictError) as info:
        PluginManager(builtins=BUILTIN_PLUGINS).providers("runtime")
    assert "machete" in info.value.message and "fake-docker" in info.value.message


def test_disabled_by_name_and_all_third_party(site: Path) -> None:
    make_dist(site, "fake-good", "fake_good", RUNTIME_PLUGIN.format(provider="fakert"))
    by_name = PluginManager(builtins=BUILTIN_PLUGINS, disabled={"fake_good"})
    assert {i.name: i.status for i in by_name.plugins()}["fake_good"] == "disabled"
    assert "fakert" not in by_name.providers("runtime")
    assert "fake_good" not in sys.modules
    everything = PluginManager(builtins=BUILTIN_PLUGINS, disabled={"*"})
    statuses = {i.name: i.status for i in everything.plugins()}
    assert statuses["fake_good"] == "disabled" and statuses["git"] == "ok"


def test_loading_is_lazy(site: Path) -> None:
    make_dist(site, "fake-good", "fake_good", RUNTIME_PLUGIN.format(provider="fakert"))
    pm = PluginManager(builtins=BUILTIN_PLUGINS)
    assert "fake_good" not in sys.modules
    pm.providers("runtime")
    assert "fake_good" in sys.modules


def test_unknown_provider_error_lists_what_exists() -> None:
    with pytest.raises(ProviderNotFoundError) as info:
        PluginManager(builtins=BUILTIN_PLUGINS).provider("builder", "nope")
    assert "docker" in info.value.message


def test_failing_observer_does_not_stop_others() -> None:
    seen: list[str] = []

    class Bad:
        @hookimpl
        def machete_on_event(self, event: Event) -> None:
            raise RuntimeError("observer bug")

    class Good:
        @hookimpl
        def machete_on_event(self, event: Event) -> None:
            seen.append(event.kind)

    pm = PluginManager()
    pm.register(Bad(), "bad")
    pm.register(Good(), "good")
    pm.emit(Event(kind="x"))
    assert seen == ["x"]


def _cli(
    site: Path, *args: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(site),
        "MACHETE_HOME": str(site / "home"),
        **(extra_env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "machete_cli", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_cli_plugins_lists_failed_and_disabled(site: Path) -> None:
    make_dist(site, "fake-good", "fake_good", RUNTIME_PLUGIN.format(provider="fakert"))
    make_dist(site, "fake-broken", "fake_broken", "raise ImportError('nope')\n")
    out = _cli(site, "plugins", "--json")
    assert out.returncode == 0, out.stderr
    data = {p["name"]: p for p in json.loads(out.stdout)}
    assert data["fake_good"]["status"] == "ok"
    assert data["fake_good"]["providers"][0]["name"] == "fakert"
    assert data["fake_broken"]["status"] == "failed"
    assert data["git"]["builtin"] is True
    text = _cli(site, "plugins")
    assert text.returncode == 0 and "fake_broken" in text.stdout and "failed" in text.stdout
    no_plugins = json.loads(_cli(site, "--no-plugins", "plugins", "--json").stdout)
    assert {p["name"]: p["status"] for p in no_plugins}["fake_good"] == "disabled"
    env_disabled = _cli(
        site, "plugins", "--json", extra_env={"MACHETE_DISABLE_PLUGINS": "fake_good,fake_broken"}
    )
    statuses = {p["name"]: p["status"] for p in json.loads(env_disabled.stdout)}
    assert statuses["fake_good"] == statuses["fake_broken"] == "disabled"


def test_cli_reports_a_conflict_in_one_line(site: Path) -> None:
    make_dist(site, "fake-one", "fake_one", RUNTIME_PLUGIN.format(provider="same"))
    make_dist(site, "fake-two", "fake_two", RUNTIME_PLUGIN.format(provider="same"))
    out = _cli(site, "plugins")
    assert out.returncode == 1
    assert "plugin_conflict" in out.stderr and "fake-one" in out.stderr and "fake-two" in out.stderr
    assert "Traceback" not in out.stderr


def test_missing_buildx_is_shown_as_unavailable_with_the_reason(tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent  # python only: no docker CLI on this PATH
    env = {**os.environ, "PATH": str(bin_dir), "MACHETE_HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "machete_cli", "plugins", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    buildx = {p["name"]: p for p in json.loads(out.stdout)}["buildx-builder"]["providers"][0]
    assert buildx["available"] is False
    assert buildx["unavailable_reason"] == "the docker CLI is not installed"
    text = subprocess.run(
        [sys.executable, "-m", "machete_cli", "plugins"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    assert re.search(
        r"builder:buildx( \[[A-Za-z, ]+\])? \(unavailable: the docker CLI is not installed\)", text
    )
