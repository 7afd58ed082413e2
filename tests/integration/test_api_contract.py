"""schemathesis walks the whole API from its OpenAPI document against a real ``machete serve``
on loopback with seeded data, once per role and once anonymous: no server errors, every
status and body as documented, and no operation that ignores its authentication. A walk with
an admin's token restricted to another tool checks that everything about the hidden tool and
its operation is answered as if it did not exist (``tests/support/schemathesis_idor.py``).

Deploy-like actions run for real on the seeded tool (they fail fast: its source is refused
by the URL policy), so the walk stays bounded; ``docs/testing.md`` says what is walked how."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from machete_core.machete import create_machete
from machete_core.settings import Settings
from tests.support.people import token_for
from tests.support.server import running_server

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
ROOT = Path(__file__).resolve().parents[2]
CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "response_schema_conformance",
        "content_type_conformance",
        "ignored_auth",
        "use_after_free",
    )
)
ROLES = ("viewer", "operator", "maintainer", "admin")


def seed(env: dict[str, str]) -> dict[str, str]:
    """Two tools, an operation, a user, a team and notification channels to aim at; a token
    per role."""
    m = create_machete(Settings.from_env(env))
    try:
        for name in ("app", "other"):
            m.store.create_tool(
                name=name,
                source_kind="git",
                source_url="https://git.example.invalid/t.git",
                source_ref="main",
                spec={"port": 8080},
                status="stopped",
            )
        op = m.submit("start", "app")
        m.store.update_operation(op.id, status="failed", finished_at=time.time())
        m.hooks.enable("app")
        # A channel of the instance and one of "app" (e-mail: no address to check).
        m.notifications.add("seeded", "email", "ops@example.com")
        m.notifications.add("app-seeded", "email", "app@example.com", tool="app")
        # First another tool's token (an admin's, every scope, restricted to "other"): the
        # IDOR walk, while "app" still exists (a maintainer's walk may remove it).
        tokens = {"other-tool": token_for(m, "st-other", "admin", tools=("other",))}
        tokens |= {role: token_for(m, f"st-{role}", role) for role in ROLES}
        m.access.add_team("web")
        (Path(env["MACHETE_HOME"]) / "op").write_text(op.id)
        return tokens
    finally:
        m.close()


def config(tmp: Path, op_id: str) -> Path:
    path = tmp / "schemathesis.toml"
    path.write_text(
        f"""
[parameters]
"path.tool" = "app"
"path.op" = "{op_id}"
"path.user" = "st-viewer"
"path.team" = "web"
"path.kind" = "user"
"path.name" = "st-viewer"
"path.channel" = "app-seeded"
"""
    )
    return path


def test_schemathesis_finds_nothing_for_any_role(env: dict[str, str], tmp_path: Path) -> None:
    env = {
        **env,
        # The walk sends thousands of requests from one address on purpose.
        "MACHETE_API_RATE": "100000",
        "MACHETE_API_BURST": "100000",
    }
    tokens = seed(env)
    cfg = config(tmp_path, (Path(env["MACHETE_HOME"]) / "op").read_text())
    with running_server(env) as (base, _proc):
        runs: list[tuple[str, list[str]]] = [("anonymous", [])]
        runs += [(who, ["-H", f"Authorization: Bearer {tokens[who]}"]) for who in tokens]
        op_id = (Path(env["MACHETE_HOME"]) / "op").read_text()
        for who, auth in runs:
            idor = who == "other-tool"
            result = subprocess.run(
                [
                    SCHEMATHESIS,
                    "--config-file",
                    str(cfg),
                    "run",
                    f"{base}/api/openapi.json",
                    *auth,
                    "--checks",
                    CHECKS + (",hidden_objects_are_not_found" if idor else ""),
                    "--max-examples",
                    "10",
                    "--phases",
                    "examples,coverage,fuzzing,stateful",
                    "--seed",
                    "16",
                    "--request-timeout",
                    "30",
                    # A generation limit, not a finding: archive bodies are raw bytes of a
                    # media type, which hypothesis filters heavily.
                    "--suppress-health-check",
                    "filter_too_much",
                    "--no-color",
                ],
                env={
                    **os.environ,
                    "PYTHONPATH": str(ROOT),
                    "SCHEMATHESIS_HOOKS": "tests.support.schemathesis_idor" if idor else "",
                    "MACHETE_TEST_HIDDEN": f"app=/api/tools/app,{op_id}=/api/operations/{op_id}",
                },
                cwd=tmp_path,  # its run cache stays out of the repository
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            assert result.returncode == 0, f"as {who}:\n{result.stdout[-6000:]}"
