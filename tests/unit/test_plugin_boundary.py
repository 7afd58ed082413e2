"""A third-party provider's bug is reported as ``plugin_failed`` naming the plugin, its
distribution and version, for a source, a builder and a runtime: through real entry points
of a fake distribution, on real operations."""

from __future__ import annotations

from pathlib import Path

import pytest

from machete_core import create_machete
from machete_core.errors import PluginFailedError
from machete_core.plugins.boundary import Culprit, Guarded
from machete_core.plugins.kinds import KINDS
from machete_core.plugins.manager import PluginManager
from machete_core.plugins.protocols import Builder, ReplicatedRuntime, Runtime, Source
from machete_core.settings import Settings
from machete_plugins import BUILTIN_PLUGINS
from tests.unit.test_plugins import make_dist, site  # noqa: F401  (the fixture)

BROKEN = """
from machete_core.domain.records import Image, Revision
from machete_core.plugins import hookimpl
from machete_core.plugins.records import BuilderProvider, RuntimeProvider, SourceProvider

MANIFEST = "machete:\\n  builder: {builder}\\n  runtime: {runtime}\\n"


class FetchBreaks:
    def __init__(self, settings):
        pass

    def resolve(self, locator):
        return None

    def fetch(self, locator, dest, log):
        raise ValueError("the fetcher tripped over its own feet")


class Writes:
    '''A source that works: a Dockerfile and a manifest naming the builder and runtime.'''

    def __init__(self, settings):
        pass

    def resolve(self, locator):
        return None

    def fetch(self, locator, dest, log):
        builder, runtime = locator.url.rsplit("/", 2)[-2:]
        (dest / "Dockerfile").write_text("FROM scratch\\n")
        (dest / "machete.yml").write_text(MANIFEST.format(builder=builder, runtime=runtime))
        return Revision(digest="sha256:" + "0" * 64)


class BuildBreaks:
    def __init__(self, settings):
        pass

    def build(self, request, log):
        raise KeyError("no such layer")

    def remove_image(self, image):
        pass

    def image_exists(self, image):
        return False


class Builds(BuildBreaks):
    def build(self, request, log):
        return Image(id="sha256:" + "1" * 64)


class StartBreaks:
    def __init__(self, settings):
        pass

    def start(self, plan):
        raise RuntimeError("cannot start anything today")

    def stop(self, instance_id, timeout=10.0):
        pass

    def resume(self, instance_id):
        pass

    def remove(self, instance_id):
        pass

    def inspect(self, instance_id):
        raise RuntimeError("unreachable")

    def list(self, selector):
        return []

    def logs(self, instance_id, *, tail=None, follow=False):
        yield "one line"
        raise OSError("the log stream broke")

    def endpoint(self, instance_id, port):
        raise RuntimeError("unreachable")

    def cleanup(self, selector):
        pass


class FactoryBreaks:
    def __init__(self, settings):
        raise ImportError("a missing native library")


@hookimpl
def machete_register_sources():
    return [
        SourceProvider(name="fetchbreaks", factory=FetchBreaks, handles=lambda url: False),
        SourceProvider(name="writes", factory=Writes, handles=lambda url: False),
    ]


@hookimpl
def machete_register_builders():
    return [
        BuilderProvider(name="buildbreaks", factory=BuildBreaks),
        BuilderProvider(name="builds", factory=Builds),
        BuilderProvider(name="factorybreaks", factory=FactoryBreaks),
    ]


@hookimpl
def machete_register_runtimes():
    return [RuntimeProvider(name="startbreaks", factory=StartBreaks)]
"""


@pytest.fixture
def machete(site: Path, tmp_path: Path):  # noqa: F811
    make_dist(site, "fake-broken", "fake_broken", BROKEN)
    with create_machete(
        Settings(home=tmp_path / "home"),
        plugin_manager=PluginManager(builtins=BUILTIN_PLUGINS),
    ) as m:
        yield m


def _fails_naming_the_plugin(m, url: str, source: str, where: str) -> None:
    op = m.submit_install(url, source=source, name="victim")
    with pytest.raises(PluginFailedError):
        m.run(op.id)
    op = m.operation(op.id)
    assert op.status == "failed" and op.error_code == "plugin_failed"
    message = op.error_message or ""
    for part in ("'fake_broken'", "fake-broken 1.2.3", where):
        assert part in message, (part, message)
    return message


def test_a_source_that_raises(machete) -> None:
    message = _fails_naming_the_plugin(machete, "https://example.test/x", "fetchbreaks", "fetch()")
    assert "ValueError: the fetcher tripped over its own feet" in message
    assert "source 'fetchbreaks'" in message


def test_a_builder_that_raises(machete) -> None:
    message = _fails_naming_the_plugin(
        machete, "https://example.test/buildbreaks/docker", "writes", "build()"
    )
    assert "builder 'buildbreaks'" in message and "KeyError" in message


def test_a_runtime_that_raises(machete) -> None:
    message = _fails_naming_the_plugin(
        machete, "https://example.test/builds/startbreaks", "writes", "start()"
    )
    assert "runtime 'startbreaks'" in message and "cannot start anything today" in message


def test_a_factory_that_raises(machete) -> None:
    with pytest.raises(PluginFailedError) as caught:
        machete.core.builder("factorybreaks")
    assert "its factory" in caught.value.message and "fake-broken 1.2.3" in caught.value.message


def test_errors_while_iterating_are_inside_the_boundary(machete) -> None:
    runtime = machete.core.runtime("startbreaks")
    lines = runtime.logs("any")
    assert next(lines) == "one line"
    with pytest.raises(PluginFailedError, match=r"logs\(\).*the log stream broke"):
        next(lines)


def test_guarded_providers_keep_their_protocols_and_capabilities(machete) -> None:
    assert isinstance(machete.core.source("git"), Source)
    assert isinstance(machete.core.builder("builds"), Builder)
    assert isinstance(machete.core.runtime("startbreaks"), Runtime)
    # A capability is seen exactly when the provider has it.
    assert not isinstance(machete.core.runtime("startbreaks"), ReplicatedRuntime)

    class Replicated:
        def scale(self, instance_id: str, replicas: int) -> None: ...
        def rollback(self, instance_id: str) -> bool: ...
        def endpoints(self, instance_id: str, port: int) -> list: ...

    culprit = Culprit("runtime", "r", "p", None, None)
    assert isinstance(Guarded(Replicated(), culprit), ReplicatedRuntime)


def test_the_kinds_table_drives_the_report_and_lists_capabilities(machete) -> None:
    report = machete.plugin_report()
    kinds = {p["kind"] for plugin in report for p in plugin["providers"]}
    assert kinds == {k.name for k in KINDS}
    providers = {(p["kind"], p["name"]): p for plugin in report for p in plugin["providers"]}
    assert "ReplicatedRuntime" in providers[("runtime", "swarm")]["capabilities"]
    assert "WatchesInstances" in providers[("runtime", "docker")]["capabilities"]
    assert "ListsImages" in providers[("builder", "docker")]["capabilities"]
    assert providers[("runtime", "docker")]["api_version"] == 1


def test_a_record_asking_for_a_newer_api_fails_its_plugin(site: Path) -> None:  # noqa: F811
    make_dist(
        site,
        "fake-future",
        "fake_future",
        """
from machete_core.plugins import hookimpl
from machete_core.plugins.records import RuntimeProvider

@hookimpl
def machete_register_runtimes():
    return [RuntimeProvider(name="future", factory=object, api_version=99)]
""",
    )
    pm = PluginManager(builtins=BUILTIN_PLUGINS)
    info = {i.name: i for i in pm.plugins()}["fake_future"]
    assert info.status == "failed" and "provider API 99" in (info.error or "")
    assert "future" not in pm.providers("runtime")
