from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_manifest import TEMPLATE

HEAVY = ("docker", "dulwich", "aiohttp", "sqlalchemy.orm", "alembic")


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "machete_cli", *args],
        capture_output=True,
        text=True,
        env=env or os.environ.copy(),
        check=False,
    )


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["install", "--help"]])
def test_help_imports_no_heavy_module(args: list[str]) -> None:
    code = (
        "import sys\n"
        "from machete_cli.main import main\n"
        f"sys.argv = ['machete', *{args!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_version() -> None:
    out = run_cli("--version")
    assert out.returncode == 0 and "machete" in out.stdout


def test_validate_prints_the_normalized_spec(tmp_path: Path) -> None:
    for f in TEMPLATE.iterdir():
        shutil.copy(f, tmp_path / f.name)
    # The template ships no Dockerfile; a tool folder needs one (see the test below).
    (tmp_path / "Dockerfile").write_text("FROM node:20\nEXPOSE 3000\n")
    out = run_cli("validate", str(tmp_path), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["name"] == "my-tool"
    assert data["spec"]["port"] == 8080
    assert data["spec"]["volumes"] == ["./data:/app/data:rw", "./config:/app/config:rw"]
    # The manifest's port wins over the Dockerfile's EXPOSE, and validate says so.
    assert "port 8080 (from the manifest)" in data["inferred"]
    text = run_cli("validate", str(tmp_path))
    assert "will be named 'my-tool'" in text.stdout and "health_check: /health" in text.stdout
    assert "# port 8080 (from the manifest)" in text.stdout


def test_validate_reports_a_missing_dockerfile_and_what_it_infers(tmp_path: Path) -> None:
    out = run_cli("validate", str(tmp_path))
    assert out.returncode == 1 and "no Dockerfile or dockerfile" in out.stderr
    (tmp_path / "dockerfile").write_text("FROM x\nEXPOSE 5000\n")
    text = run_cli("validate", str(tmp_path)).stdout
    assert "# port 5000 (from EXPOSE)" in text
    assert "# dockerfile dockerfile (found as Docker's CLI finds it)" in text
    assert "anything but a 5xx" in text
    over = run_cli("validate", str(tmp_path), "--port", "5001", "--health-path", "/hc").stdout
    assert "# port 5001 (set for the tool)" in over and "health_check: /hc" in over


def test_validate_reports_every_problem_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "machete.yml").write_text("machete:\n  port: eighty\n  environment: 3\n")
    out = run_cli("validate", str(tmp_path))
    assert out.returncode == 1
    assert "invalid_manifest" in out.stderr
    assert "$.machete.port: expected an integer" in out.stderr
    assert "$.machete.environment" in out.stderr
    assert "Traceback" not in out.stderr


def test_errors_are_one_line_with_a_code(tmp_path: Path) -> None:
    env = {**os.environ, "MACHETE_HOME": str(tmp_path)}
    out = run_cli("status", "nope", env=env)
    assert out.returncode == 1
    assert out.stderr.strip() == "error [tool_not_found]: no tool named 'nope'"
    refused = run_cli("install", "git@github.com:team/tool.git", env=env)
    assert refused.returncode == 1 and "source_not_allowed" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    out = run_cli("--debug", "status", "nope", env={**os.environ, "MACHETE_HOME": str(tmp_path)})
    assert out.returncode != 0 and "Traceback" in out.stderr


def test_ls_on_an_empty_state(tmp_path: Path) -> None:
    env = {**os.environ, "MACHETE_HOME": str(tmp_path)}
    assert json.loads(run_cli("ls", "--json", env=env).stdout) == []
    assert "no tools installed" in run_cli("ls", env=env).stdout


def test_serve_listens_on_any_address_and_every_request_must_sign_in(tmp_path: Path) -> None:
    """No --allow-remote any more: with sign-in on, 0.0.0.0 is allowed; the first start
    writes a one-time setup token (0600) and says where."""
    import stat
    import subprocess
    import sys
    import time

    from tests.support.http import request
    from tests.support.ports import free_port

    port = free_port()
    env = {
        **os.environ,
        "MACHETE_HOME": str(tmp_path),
        "MACHETE_TOOLS_PORT": str(free_port()),
        "MACHETE_RECONCILE_INTERVAL": "0",
        "MACHETE_HEALTH_CHECK_INTERVAL": "0",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "machete_cli", "serve", "--host", "0.0.0.0", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if request(f"http://127.0.0.1:{port}/api/health", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        status, body = request(f"http://127.0.0.1:{port}/api/tools")
        assert status == 401 and b"unauthenticated" in body
        token_file = tmp_path / "setup-token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=60)
    assert str(token_file) in err


@pytest.mark.parametrize("ingress", ["builtin", "caddy"])
def test_serve_on_a_taken_port_or_a_foreign_host_is_a_coded_error(
    tmp_path: Path, ingress: str
) -> None:
    """Both listeners are opened before anything starts (Caddy included): no traceback."""
    import socket

    from tests.support.ports import free_port

    env = {
        **os.environ,
        "MACHETE_HOME": str(tmp_path),
        "MACHETE_INGRESS": ingress,
        "MACHETE_TOOLS_PORT": str(free_port()),
    }
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        out = run_cli("serve", "--port", str(taken), env=env)
        assert out.returncode != 0
        assert "address_in_use" in out.stderr and "MACHETE_PORT" in out.stderr, out.stderr
        assert "Traceback" not in out.stderr and "internal error" not in out.stderr
        if ingress == "builtin":
            env["MACHETE_TOOLS_PORT"] = str(taken)
            out = run_cli("serve", "--port", str(free_port()), env=env)
            assert "address_in_use" in out.stderr and "MACHETE_TOOLS_PORT" in out.stderr
    out = run_cli("serve", "--host", "no-such-host.invalid", "--port", str(free_port()), env=env)
    assert out.returncode != 0
    assert "invalid_input" in out.stderr and "MACHETE_HOST" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
