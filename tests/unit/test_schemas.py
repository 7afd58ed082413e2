"""The API's request records are parsed strictly with field paths; response records never
show an operation's sealed credentials, however deeply the operation sits in them."""

from __future__ import annotations

from pathlib import Path

import pytest

from machete_core.errors import InvalidInputError
from machete_core.machete import create_machete
from machete_core.secrets import Credentials
from machete_core.settings import Settings
from machete_plugins import BUILTIN_PLUGINS
from machete_web.schemas import (
    ActionRequest,
    ConfigChange,
    InstallRequest,
    OperationEnvelope,
    Operations,
    parse,
    render,
)


@pytest.mark.parametrize(
    ("cls", "data", "path"),
    [
        (InstallRequest, {"url": 5}, "$.url"),
        (InstallRequest, {}, "$.url"),
        (
            InstallRequest,
            {"url": "https://x/y.git", "credentials": {"token": 3}},
            "$.credentials.token",
        ),
        (ActionRequest, {"release": "2"}, "$.release"),
        (ActionRequest, {"release": True}, "$.release"),
        (ActionRequest, {"force": 1}, "$.force"),
        (ConfigChange, {"values": {"A": 1}}, "$.values['A']"),
        (ConfigChange, {"values": []}, "$.values"),
    ],
)
def test_a_bad_field_is_named_by_its_path(cls: type, data: dict, path: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse(cls, data)
    assert caught.value.details["path"] == path
    assert caught.value.message.startswith(path)


def test_unknown_fields_are_refused_and_empty_strings_are_not_given() -> None:
    with pytest.raises(InvalidInputError, match="extra"):
        parse(InstallRequest, {"url": "https://x/y.git", "colour": "red"})
    assert parse(InstallRequest, {"url": "https://x/y.git", "name": ""}).name is None


def test_operations_in_responses_never_show_credentials(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    with create_machete(settings, builtins=BUILTIN_PLUGINS) as m:
        op = m.submit_install(
            "https://example.test/private.git",
            credentials=Credentials(username="u", password="hunter22"),
        )
        m.cancel(op.id)
        op = m.operation(op.id)
        for rendered in (
            render(OperationEnvelope(op))["operation"],
            render(Operations([op]))["operations"][0],
        ):
            assert rendered["params"]["credentials"] == "***"
            assert "hunter22" not in str(rendered) and "holder" not in rendered["params"]
            assert rendered["actor"] == {"kind": "local", "id": "python", "name": "Python API"}
