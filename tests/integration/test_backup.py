"""`machete backup` / `machete restore` round trip with a real tool on the real engine."""

from __future__ import annotations

import json
from pathlib import Path

import docker

from tests.support.cli import run_cli
from tests.support.git_server import GitHTTPServer
from tests.support.http import get_text
from tests.support.tools import installed_tool


def test_backup_and_restore_round_trip(
    env: dict[str, str], git_server: GitHTTPServer, tmp_path: Path, busybox_image: str
) -> None:
    installed_tool(env, git_server, "keeper", "backed up")
    run_cli(env, "config", "set", "keeper", "API_TOKEN=-", "--secret", stdin="tok-123\n")
    data = Path(env["MACHETE_HOME"]) / "volumes" / "keeper" / "data"
    (data / "db.txt").write_text("precious\n")
    before = json.loads(run_cli(env, "status", "keeper", "--json").stdout)

    file = tmp_path / "machete.tar.gz"
    report = json.loads(run_cli(env, "backup", str(file), "--json").stdout)
    assert report["tables"]["tools"] == 1 and report["files"] >= 1

    # A new state directory (and a new database), as after losing the machine's disk.
    restored_env = {**env, "MACHETE_HOME": str(tmp_path / "restored"), "MACHETE_DATABASE_URL": ""}
    out = run_cli(restored_env, "restore", str(file)).stdout
    assert "restored 1 tool(s)" in out
    run_cli(restored_env, "reconcile")
    after = json.loads(run_cli(restored_env, "status", "keeper", "--json").stdout)
    assert after["instance_id"] == before["instance_id"]  # the running container was adopted
    assert after["status"] == "running" and after["release"] == before["release"]
    assert get_text(after["url"] + "/").strip() == "backed up"
    restored_data = tmp_path / "restored" / "volumes" / "keeper" / "data" / "db.txt"
    assert restored_data.read_text() == "precious\n"
    config = json.loads(run_cli(restored_env, "config", "keeper", "--json").stdout)
    [entry] = config
    assert {k: entry[k] for k in ("key", "value", "secret")} == {
        "key": "API_TOKEN",
        "value": "***",
        "secret": True,
    }
    assert entry["updated_by"] == "local:machete CLI"  # who set it survives the backup
    # The restored key opens the secret: a forced redeploy gives the new instance its value.
    run_cli(restored_env, "deploy", "keeper", "--force")
    status = json.loads(run_cli(restored_env, "status", "keeper", "--json").stdout)
    client = docker.from_env()
    try:
        environment = client.containers.get(status["instance_id"]).attrs["Config"]["Env"]
    finally:
        client.close()
    assert "API_TOKEN=tok-123" in environment
    assert status["release"] == before["release"] + 1

    # Restoring over a state that has tools is refused unless asked for.
    again = run_cli(restored_env, "restore", str(file), check=False)
    assert again.returncode == 1 and "restore_refused" in again.stderr
