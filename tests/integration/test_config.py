"""Configuration and secrets: injected at run time, a new release each change, never shown."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from tests.integration.test_credentials import grep_tree
from tests.support.cli import run_cli as machete
from tests.support.git_server import GitHTTPServer, make_repo
from tests.support.http import get_text
from tests.support.images import http_tool_files

SECRET = "tok-SECRET-5ea7c0de"


def test_config_and_secrets(
    env: dict[str, str], git_server: GitHTTPServer, busybox_image: str, home: Path
) -> None:
    files = http_tool_files("configured")
    files["www/cgi-bin/env"] = '#!/bin/sh\necho "Content-Type: text/plain"\necho\nenv\n'
    files["Dockerfile"] = (
        files["Dockerfile"]
        .replace("COPY www /www\n", "COPY www /www\nRUN chmod 755 /www/cgi-bin/env\n")
        .replace("echo tool starting on $PORT;", "echo tool starting on $PORT; env;")
    )
    repo = f"cfg{uuid.uuid4().hex[:6]}"
    make_repo(git_server.root, repo, files)
    machete(env, "install", git_server.url(f"{repo}.git"), "--name", "cfg")
    outputs: list[str] = []

    plain = machete(env, "config", "set", "cfg", "PLAIN=visible", "MODE=fast")
    assert "reusing the image of release 1" in plain.stdout  # only the configuration changed
    secret = machete(env, "config", "set", "cfg", "API_TOKEN=-", "--secret", stdin=SECRET + "\n")
    outputs += [plain.stdout, secret.stdout + secret.stderr]

    status = json.loads(machete(env, "status", "cfg", "--json").stdout)
    assert status["release"] == 3 and status["health"] == "healthy"
    seen_by_tool = get_text(status["url"] + "/cgi-bin/env")
    assert f"API_TOKEN={SECRET}" in seen_by_tool  # the tool really has it...
    assert (
        "PLAIN=visible" in seen_by_tool
        and "PORT=8080" in seen_by_tool
        and "DATA_DIR=/data" in seen_by_tool
    )

    logs = machete(env, "logs", "cfg", "--tail", "200").stdout
    assert "API_TOKEN=***" in logs  # ...but its printed environment is redacted for readers
    shown = json.loads(machete(env, "config", "cfg", "--json").stdout)
    assert {c["key"]: c["value"] for c in shown} == {
        "API_TOKEN": "***",
        "MODE": "fast",
        "PLAIN": "visible",
    }
    outputs += [logs, json.dumps(shown), machete(env, "config", "cfg").stdout]
    for args in (
        ["status", "cfg", "--json"],
        ["operations", "--json"],
        ["releases", "cfg", "--json"],
    ):
        outputs.append(machete(env, *args).stdout)

    machete(env, "config", "unset", "cfg", "PLAIN")
    status = json.loads(machete(env, "status", "cfg", "--json").stdout)
    env_now = get_text(status["url"] + "/cgi-bin/env")
    assert status["release"] == 4 and "PLAIN=" not in env_now and f"API_TOKEN={SECRET}" in env_now

    for text in outputs:
        assert SECRET not in text
    assert grep_tree(home, SECRET.encode()) == []  # database, operation logs, caches
    machete(env, "rm", "cfg", "--purge")


def test_config_of_a_never_deployed_tool_waits_for_the_next_deploy(
    env: dict[str, str], busybox_image: str
) -> None:
    from machete_core.machete import create_machete
    from machete_core.settings import Settings
    from machete_plugins import BUILTIN_PLUGINS

    with create_machete(Settings.from_env(env), builtins=BUILTIN_PLUGINS) as m:
        m.store.create_tool(name="later", source_kind="git", source_url="https://x/later.git")
        assert m.change_config("later", {"A": "1"}) is None
        assert [(c.key, c.value) for c in m.config("later")] == [("A", "1")]
        import pytest

        from machete_core.errors import InvalidInputError

        with pytest.raises(InvalidInputError):
            m.change_config("later", {"1BAD": "x"})
