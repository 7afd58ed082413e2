"""Every error a user can meet has a unique, documented code (docs/errors.md)."""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path

import machete_cli.client
import machete_core
import machete_plugins
import machete_web
from machete_core.errors import MacheteError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "errors.md"


def _all_error_classes() -> list[type[MacheteError]]:
    for package in (machete_core, machete_plugins, machete_cli.client, machete_web):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if ".migrations" not in info.name and ".testing" not in info.name:
                importlib.import_module(info.name)

    def walk(cls: type[MacheteError]) -> Iterator[type[MacheteError]]:
        for sub in cls.__subclasses__():
            if not sub.__module__.startswith("tests"):
                yield sub
                yield from walk(sub)

    return [MacheteError, *walk(MacheteError)]


def test_every_error_class_has_a_code_of_its_own_and_codes_are_unique() -> None:
    classes = _all_error_classes()
    assert len(classes) > 50
    inherited = [c.__name__ for c in classes if "code" not in c.__dict__]
    assert inherited == [], "each error class says its own code"
    codes = [c.code for c in classes]
    duplicates = sorted({c for c in codes if codes.count(c) > 1})
    assert duplicates == []


def test_core_errors_live_in_one_module() -> None:
    elsewhere = [
        f"{c.__module__}.{c.__name__}"
        for c in _all_error_classes()
        if c.__module__.startswith("machete_core") and c.__module__ != "machete_core.errors"
    ]
    assert elsewhere == []


def test_every_code_is_documented_with_its_status() -> None:
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \|", DOCS.read_text(), re.M))
    for cls in _all_error_classes():
        assert cls.code in rows, f"{cls.code} ({cls.__name__}) is not in docs/errors.md"
        assert rows[cls.code] == str(cls.http_status), f"{cls.code}: docs say {rows[cls.code]}"


def test_the_docs_list_no_code_that_does_not_exist() -> None:
    text = DOCS.read_text()
    core_rows, _sep, rest = text.partition("The HTTP host answers")
    cli_rows = rest.partition("The CLI in client mode")[2]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", core_rows + cli_rows, re.M))
    assert documented == {c.code for c in _all_error_classes()}
