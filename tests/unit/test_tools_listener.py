"""What the server and its tools' listener process share (tests/integration/test_tools_listener.py
runs the process): settings handed down whole, one exposition made of two registries, and
the tools port bound by the server."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import attrs
import pytest
from prometheus_client.parser import text_string_to_metric_families

from machete_core.errors import InvalidInputError
from machete_core.settings import Settings
from machete_plugins.prometheus import PlatformMetrics
from machete_plugins.prometheus.metrics import PROXY_FAMILIES
from machete_web.event_feed import EventFeed
from machete_web.proxy.worker import ServerPipe
from machete_web.sockets import AddressInUseError, bind


def test_settings_handed_to_a_child_read_back_equal_secrets_and_lists_included(
    tmp_path: Path,
) -> None:
    settings = Settings(
        home=tmp_path,
        registry_password="s3cret",
        smtp_password="also, secret",
        allowed_schemes=frozenset({"https", "file"}),
        allowed_networks=("10.0.0.0/8", "192.168.0.0/16"),
        metrics=False,
        health_interval=0.125,
        workers=7,
        tools_domain="tools.example",
    )
    # The settings file of the home must not win over what the server hands down.
    (tmp_path / "machete.toml").write_text('workers = "2"\n')
    assert Settings.from_env(environ=settings.as_env()) == settings
    default = Settings(home=tmp_path)
    assert Settings.from_env(environ=default.as_env()) == default


def test_a_listeners_proxy_families_join_the_servers_exposition_once() -> None:
    listener = PlatformMetrics.for_proxy()
    listener.observe_proxy("wiki", "GET", 200, 0.01)
    listener.upstream_error("wiki", "timeout")
    server = PlatformMetrics(version="9.9", database="sqlite", sample_tools=tuple)
    # What the server would have counted itself, had the proxy not moved out.
    server.observe_proxy("stale", "GET", 200, 0.01)
    server.hand_over(PROXY_FAMILIES, listener.render)
    server.observe_api("/api/tools", "GET", 200, 0.002)
    text = server.render().decode()
    names = [family.name for family in text_string_to_metric_families(text)]
    assert len(names) == len(set(names)), "a family exported twice is an invalid exposition"
    assert {"machete_build_info", "machete_api_requests", "machete_proxy_requests"} <= set(names)
    assert 'tool="wiki"' in text and 'tool="stale"' not in text
    # The listener exports the proxy's families and nothing of the server's.
    alone = {
        family.name
        for family in text_string_to_metric_families(listener.render().decode())
        if not family.name.endswith("_created")
    }
    assert alone == {
        "machete_proxy_requests",
        "machete_proxy_request_duration_seconds",
        "machete_proxy_requests_in_flight",
        "machete_proxy_upstream_errors",
    }


def test_an_unreadable_listener_leaves_the_servers_own_metrics() -> None:
    server = PlatformMetrics(version="9.9", database="sqlite", sample_tools=tuple)
    server.hand_over(PROXY_FAMILIES, lambda: b"")
    names = {family.name for family in text_string_to_metric_families(server.render().decode())}
    assert "machete_build_info" in names and "machete_proxy_requests" not in names


def test_the_tools_port_is_bound_by_the_server_and_inherited() -> None:
    sockets = bind("127.0.0.1", 0)
    try:
        assert len(sockets) == 1
        port = sockets[0].getsockname()[1]
        assert port > 0 and sockets[0].get_inheritable()
        # Connections are accepted into the backlog before any process serves them.
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        with pytest.raises(AddressInUseError) as caught:
            bind("127.0.0.1", port)
        assert caught.value.code == "address_in_use"
        assert "MACHETE_TOOLS_PORT" in caught.value.message
    finally:
        for sock in sockets:
            sock.close()


def test_a_host_that_does_not_resolve_is_a_clear_error() -> None:
    with pytest.raises(InvalidInputError) as caught:
        bind("no-such-host.invalid", 0)
    assert "MACHETE_HOST" in caught.value.message


def test_every_address_gets_the_same_port() -> None:
    sockets = bind("", 0)  # every address: IPv4's and IPv6's
    try:
        assert len(sockets) == 2
        ports = {sock.getsockname()[1] for sock in sockets}
        assert len(ports) == 1
    finally:
        for sock in sockets:
            sock.close()


def test_as_env_covers_every_setting() -> None:
    names = {f"MACHETE_{field.name.upper()}" for field in attrs.fields(Settings)}
    assert set(Settings().as_env()) == names


async def test_the_servers_events_reach_the_listeners_feed_at_once_and_garbage_is_skipped() -> None:
    heard: list[tuple[str, str | None]] = []
    feed = EventFeed(machete=None, executor=None)  # type: ignore[arg-type]  # never reads
    feed.listen(lambda event: heard.append((event.kind, event.tool)))
    stop = asyncio.Event()
    # What came with the settings, then a line cut in two by the pipe.
    pipe = ServerPipe(feed, stop, b'{"kind": "release.live", "tool": "wiki"}\n{"kind": "to')
    pipe.lines()
    assert heard == [("release.live", "wiki")]
    pipe.buffer.extend(b'ol.access", "tool": "wiki"}\nnot json\n{"tool": "x"}\n')
    pipe.buffer.extend(b'{"kind": "access.changed", "tool": null}\n')
    pipe.lines()
    assert heard == [
        ("release.live", "wiki"),
        ("tool.access", "wiki"),
        ("access.changed", None),
    ]
    assert not stop.is_set()


def test_the_listener_runs_on_uvloop_where_it_is_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    import uvloop

    from machete_web.proxy.worker import event_loop_runner

    assert event_loop_runner() is uvloop.run
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if not installed (Windows)
    assert event_loop_runner() is asyncio.run
