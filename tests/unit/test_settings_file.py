"""Platform settings that stay: <home>/machete.toml, edited with `machete settings`, read by
every later command and the server, with the environment still winning."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from machete_core.errors import InvalidInputError, SourcePolicyError
from machete_core.machete import create_machete
from machete_core.settings import Settings
from machete_core.settings_file import read_settings_file, write_settings_file
from machete_plugins import BUILTIN_PLUGINS


def _cli(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MACHETE_")}
    return subprocess.run(
        [sys.executable, "-m", "machete_cli", *args],
        capture_output=True,
        text=True,
        env={**clean, "MACHETE_HOME": str(home), **env},
        check=False,
    )


def test_a_setting_saved_once_holds_for_later_commands_without_the_variable(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    with create_machete(Settings.from_env({"MACHETE_HOME": str(home)})) as m:
        with pytest.raises(SourcePolicyError, match="allowed_schemes"):
            m.submit_install("file:///srv/tool")
    saved = _cli(home, "settings", "set", "allowed_schemes", "https,file")
    assert saved.returncode == 0, saved.stderr
    assert (home / "machete.toml").stat().st_mode & 0o777 == 0o600
    # A later command, from a shell that never set MACHETE_ALLOWED_SCHEMES.
    settings = Settings.from_env({"MACHETE_HOME": str(home)})
    assert settings.allowed_schemes == frozenset({"https", "file"})
    with create_machete(settings, builtins=BUILTIN_PLUGINS) as m:
        op = m.submit_install("file:///srv/tool", name="local")
        m.cancel(op.id)
    listed = json.loads(_cli(home, "settings", "--json").stdout)
    row = next(r for r in listed if r["name"] == "allowed_schemes")
    assert row == {"name": "allowed_schemes", "value": "file,https", "from": "file"}


def test_the_environment_wins_and_says_so(tmp_path: Path) -> None:
    write_settings_file(tmp_path, {"health_timeout": "120"})
    assert Settings.from_env({"MACHETE_HOME": str(tmp_path)}).health_timeout == 120.0
    env = {"MACHETE_HOME": str(tmp_path), "MACHETE_HEALTH_TIMEOUT": "30"}
    assert Settings.from_env(env).health_timeout == 30.0
    out = _cli(tmp_path, "settings", "get", "health_timeout", MACHETE_HEALTH_TIMEOUT="30")
    assert out.stdout.strip() == "30.0"
    note = _cli(tmp_path, "settings", "set", "health_timeout", "90", MACHETE_HEALTH_TIMEOUT="30")
    assert "MACHETE_HEALTH_TIMEOUT is set in this environment and wins" in note.stderr


def test_bad_names_and_values_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    bad = _cli(tmp_path, "settings", "set", "helth_timeout", "3")
    assert bad.returncode == 1 and "did you mean health_timeout?" in bad.stderr
    bad = _cli(tmp_path, "settings", "set", "health_timeout", "soon")
    assert bad.returncode == 1 and "invalid_input" in bad.stderr
    assert not (tmp_path / "machete.toml").exists()
    assert _cli(tmp_path, "settings", "set", "MACHETE_WORKERS", "8").returncode == 0
    assert read_settings_file(tmp_path) == {"workers": "8"}
    assert _cli(tmp_path, "settings", "unset", "workers").returncode == 0
    assert read_settings_file(tmp_path) == {}


def test_secrets_are_never_shown(tmp_path: Path) -> None:
    _cli(tmp_path, "settings", "set", "registry_password", "hunter22")
    listed = _cli(tmp_path, "settings").stdout
    assert "hunter22" not in listed and "***" in listed


def test_a_broken_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "machete.toml").write_text("workers = [\n")
    with pytest.raises(InvalidInputError, match="not valid TOML"):
        Settings.from_env({"MACHETE_HOME": str(tmp_path)})
    write_settings_file(tmp_path, {})
    (tmp_path / "machete.toml").write_text("workers = 3\nallowed_schemes = ['https', 'http']\n")
    settings = Settings.from_env({"MACHETE_HOME": str(tmp_path)})
    assert settings.workers == 3 and settings.allowed_schemes == frozenset({"https", "http"})
