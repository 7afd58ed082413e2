"""Every hook is documented for plugin authors, and every CLI command in the CLI reference."""

from __future__ import annotations

import inspect
from pathlib import Path

import click
import pytest

from machete_cli import hookspecs as cli_hookspecs
from machete_cli.main import cli
from machete_core.plugins import hookspecs
from machete_web import hookspecs as web_hookspecs

ROOT = Path(__file__).resolve().parents[2]
SPECS = (hookspecs, cli_hookspecs, web_hookspecs)
HOOKS = [
    n
    for module in SPECS
    for n, f in vars(module).items()
    if n.startswith("machete_") and inspect.isfunction(f)
]
COMMANDS = cli.list_commands(click.Context(cli))


def test_there_are_hooks() -> None:
    assert set(HOOKS) == {
        "machete_register_sources",
        "machete_register_builders",
        "machete_register_runtimes",
        "machete_register_ingresses",
        "machete_on_event",
        "machete_cli_commands",
        "machete_web_routes",
        "machete_register_actions",
        "machete_permission_rules",
        "machete_actor_from_credentials",
    }


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_contract_and_is_in_the_plugin_guide(hook: str) -> None:
    spec = next(getattr(m, hook) for m in SPECS if hasattr(m, hook))
    doc = inspect.getdoc(spec) or ""
    assert "versionadded" in doc and len(doc) > 200
    assert f"`{hook}`" in (ROOT / "docs" / "plugins.md").read_text()


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_exercised_by_a_test(hook: str) -> None:
    tests = "".join(
        p.read_text() for p in (ROOT / "tests").rglob("test_*.py") if p.name != "test_docs.py"
    )
    bundled = "".join(p.read_text() for p in (ROOT / "machete_plugins").glob("*.py"))
    assert hook in tests or hook in bundled


def test_there_are_commands() -> None:
    assert {"install", "deploy", "ls", "serve", "plugins"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_is_in_the_cli_reference(command: str) -> None:
    assert f"`{command}" in (ROOT / "docs" / "cli.md").read_text()


def _setting_names() -> list[str]:
    import attrs

    from machete_core.settings import Settings

    return [f.name for f in attrs.fields(Settings)]


@pytest.mark.parametrize("field", _setting_names())
def test_every_setting_is_in_the_settings_reference(field: str) -> None:
    assert f"MACHETE_{field.upper()}" in (ROOT / "docs" / "settings.md").read_text()


def _doc_fields(cls: type, prefix: str = "") -> list[str]:
    import attrs

    from machete_core.manifest.documents import _attrs_class_of

    names = []
    for field in attrs.fields(cls):
        inner = _attrs_class_of(field.type)
        if inner is not None and field.name not in ("ui", "resources", "permissions", "setup"):
            names += _doc_fields(inner, f"{prefix}{field.name}.")
        else:
            names.append(prefix + field.name)
    return names


def test_every_manifest_field_the_loader_accepts_is_documented() -> None:
    from machete_core.manifest.documents import MacheteYmlDoc, ToolJsonDoc

    text = (ROOT / "docs" / "manifest.md").read_text()
    missing = [name for name in _doc_fields(MacheteYmlDoc) if f"`{name}" not in text]
    assert missing == []
    tool_json = [n for n in _doc_fields(ToolJsonDoc) if n.split(".")[-1] not in text]
    assert tool_json == []


def test_every_action_is_in_the_security_guide_with_its_role_and_scope() -> None:
    from machete_core.access.actions import BUILTIN_ACTIONS

    text = (ROOT / "docs" / "security.md").read_text()
    for action in BUILTIN_ACTIONS:
        scope = "(people only)" if action.people_only else f"`{action.scope}`"
        row = f"| `{action.name}` | {action.role.label} | {scope} |"
        assert row in text, row
