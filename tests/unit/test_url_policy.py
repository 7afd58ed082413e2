from __future__ import annotations

import subprocess
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from machete_core.domain.records import Locator
from machete_core.errors import SourcePolicyError
from machete_core.settings import Settings
from machete_core.sources.url_policy import check_source_url
from machete_plugins.git_source import GitSource

HTTPS = frozenset({"https"})
ALL = frozenset({"https", "http", "ssh", "file"})


@pytest.mark.parametrize(
    "url",
    [
        "https://git.example.com/team/tool.git",
        "https://git.example.com:8443/tool",
    ],
)
def test_https_is_allowed_by_default(url: str) -> None:
    assert check_source_url(url, HTTPS) == url


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://git.example.com/t.git", "not allowed"),
        ("ssh://git@example.com/t.git", "not allowed"),
        ("file:///srv/t.git", "not allowed"),
        ("/srv/t.git", "local paths"),
        ("./t", "local paths"),
        ("ext::sh -c touch% /tmp/pwned", "control"),
        ("ext::sh", "transport helpers"),
        ("fd::17", "transport helpers"),
        ("git@github.com:team/tool.git", "scp-style"),
        ("git://example.com/t.git", "not supported"),
        ("https://user:secret@example.com/t.git", "credentials"),
        ("https://token@example.com/t.git", "credentials"),
        ("https://-oProxyCommand=evil/x", "host"),
        ("-uhttps://example.com", "'-'"),
        ("https://example.com:99999/x", "port"),
        ("https://[::1/x", "parsed"),
        ("", "empty"),
        ("https://exa mple.com/x", "control"),
        ("https://example.com/\nx", "control"),
        ("example.com/team/tool", "not a URL"),
    ],
)
def test_refused_locations(url: str, fragment: str) -> None:
    with pytest.raises(SourcePolicyError) as info:
        check_source_url(url, HTTPS)
    assert fragment in info.value.message
    assert info.value.code == "source_not_allowed"


def test_settings_can_allow_more() -> None:
    assert check_source_url("http://127.0.0.1:9/t.git", ALL) == "http://127.0.0.1:9/t.git"
    assert check_source_url("/srv/t.git", ALL) == "file:///srv/t.git"
    assert check_source_url("ssh://git@example.com/t.git", ALL) == "ssh://git@example.com/t.git"
    with pytest.raises(SourcePolicyError):
        check_source_url("ssh://git:pw@example.com/t.git", ALL)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=80) | st.from_regex(r"[a-z+]{2,8}:(//)?[^ ]{0,30}", fullmatch=True))
def test_nothing_outside_the_policy_reaches_a_transport(url: str) -> None:
    source = GitSource(Settings(home=Path("/nonexistent"), allowed_schemes=HTTPS))
    with (
        mock.patch("dulwich.client.get_transport_and_path") as transport,
        mock.patch.object(subprocess, "Popen") as popen,
    ):
        transport.side_effect = AssertionError("a transport was created")
        try:
            source.resolve(Locator(url=url))
        except SourcePolicyError:
            assert not transport.called
        except AssertionError:
            # The policy let it through: then it must be a plain https URL.
            assert url.strip().lower().startswith("https://")
        assert not popen.called
