"""What a tool runs with when its manifest is silent: read from its Dockerfile, with the
manifest and the operator's overrides winning, and every decision said."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from machete_core.domain.spec import ToolOverrides
from machete_core.errors import InvalidInputError
from machete_core.manifest import load_manifest, load_manifest_text
from machete_core.manifest.dockerfile import duration, read_facts
from machete_core.manifest.inference import find_dockerfile, resolve

NO_OVERRIDES = ToolOverrides()


def _tool(tmp_path: Path, dockerfile: str, manifest: str | None = None) -> Path:
    (tmp_path / "Dockerfile").write_text(dockerfile)
    if manifest is not None:
        (tmp_path / "machete.yml").write_text(manifest)
    return tmp_path


def _resolve(root: Path, overrides: ToolOverrides = NO_OVERRIDES):  # type: ignore[no-untyped-def]
    return resolve(load_manifest(root).spec, root, overrides)


def test_expose_gives_the_port_and_no_health_path_means_the_connect_check(tmp_path: Path) -> None:
    got = _resolve(_tool(tmp_path, "FROM x\nEXPOSE 5000\nCMD run\n"))
    assert got.spec.port == 5000 and got.spec.health_check is None
    assert "port 5000 (from EXPOSE)" in got.notes
    assert any("anything but a 5xx" in note for note in got.notes)


def test_the_first_tcp_port_of_the_final_stage_wins(tmp_path: Path) -> None:
    dockerfile = "FROM a AS build\nEXPOSE 1111\nFROM b\nEXPOSE 53/udp 7000 8000\n"
    assert _resolve(_tool(tmp_path, dockerfile)).spec.port == 7000


def test_healthcheck_gives_path_interval_retries_and_a_timeout(tmp_path: Path) -> None:
    dockerfile = (
        "FROM x\nEXPOSE 8501\n"
        "HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=4 \\\n"
        "  CMD curl -f http://localhost:8501/_stcore/health\n"
    )
    got = _resolve(_tool(tmp_path, dockerfile))
    spec = got.spec
    assert (spec.port, spec.health_check) == (8501, "/_stcore/health")
    assert (spec.health_interval, spec.health_retries, spec.health_timeout) == (10.0, 4, 60.0)
    assert spec.health_probe_timeout == 3.0
    assert "health check GET /_stcore/health (from HEALTHCHECK)" in got.notes
    assert any("HEALTHCHECK is switched off in the container" in n for n in got.notes)


def test_exec_form_and_wget_healthchecks_and_a_port_only_there(tmp_path: Path) -> None:
    dockerfile = 'FROM x\nHEALTHCHECK CMD ["wget", "-qO-", "http://127.0.0.1:9000/ping?x=1"]\n'
    got = _resolve(_tool(tmp_path, dockerfile))
    assert (got.spec.port, got.spec.health_check) == (9000, "/ping?x=1")
    assert "port 9000 (from HEALTHCHECK)" in got.notes


def test_a_healthcheck_without_a_url_keeps_machete_s_own_probe(tmp_path: Path) -> None:
    got = _resolve(_tool(tmp_path, "FROM x\nEXPOSE 80\nHEALTHCHECK CMD pg_isready\n"))
    assert got.spec.health_check is None


def test_an_explicit_manifest_always_wins(tmp_path: Path) -> None:
    root = _tool(
        tmp_path,
        "FROM x\nEXPOSE 5000\nHEALTHCHECK CMD curl -f http://localhost:5000/hc\n",
        "machete:\n  port: 8080\n  health_check: /health\n",
    )
    got = _resolve(root)
    assert (got.spec.port, got.spec.health_check) == (8080, "/health")
    assert "port 8080 (from the manifest)" in got.notes


def test_overrides_win_over_everything_and_none_is_the_connect_check(tmp_path: Path) -> None:
    root = _tool(tmp_path, "FROM x\nEXPOSE 5000\n", "machete:\n  health_check: /health\n")
    got = _resolve(root, ToolOverrides(port=8501, health_path="none"))
    assert (got.spec.port, got.spec.health_check) == (8501, None)
    assert "port 8501 (set for the tool)" in got.notes


def test_nothing_declared_is_port_8080(tmp_path: Path) -> None:
    got = _resolve(_tool(tmp_path, "FROM x\nCMD run\n"))
    assert got.spec.port == 8080
    assert "port 8080 (the default: nothing declares one)" in got.notes


def test_a_lower_case_dockerfile_is_found_as_docker_finds_it(tmp_path: Path) -> None:
    (tmp_path / "dockerfile").write_text("FROM x\nEXPOSE 3000\n")
    assert find_dockerfile(tmp_path, "Dockerfile") == "dockerfile"
    got = resolve(load_manifest(tmp_path).spec, tmp_path, NO_OVERRIDES)
    assert got.spec.dockerfile == "dockerfile" and got.spec.port == 3000


def test_a_missing_dockerfile_says_what_would_help(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"--dockerfile PATH.*--subdir DIR"):
        find_dockerfile(tmp_path, "Dockerfile")


def test_a_target_stage_is_read_and_an_unknown_one_refused(tmp_path: Path) -> None:
    root = _tool(tmp_path, "FROM a AS app\nEXPOSE 5000\nFROM app AS dev\nEXPOSE 9999\n")
    assert _resolve(root).spec.port == 5000  # dev inherits 5000 first
    got = _resolve(root, ToolOverrides(target="app"))
    assert got.spec.target == "app" and got.spec.port == 5000
    with pytest.raises(InvalidInputError, match=r"no stage 'prod' .*app, dev.*--target"):
        _resolve(root, ToolOverrides(target="prod"))


def test_build_args_reach_expose(tmp_path: Path) -> None:
    root = _tool(tmp_path, "FROM x\nARG PORT=4000\nEXPOSE ${PORT}\n")
    assert _resolve(root).spec.port == 4000
    assert _resolve(root, ToolOverrides(build_args={"PORT": "4100"})).spec.port == 4100


def test_user_and_syntax_are_read(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text("# syntax=docker/dockerfile:1\nFROM x\nUSER 1000:1000\n")
    facts = read_facts(path)
    assert facts.user == "1000:1000" and facts.syntax == "docker/dockerfile:1"


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30.0), ("1m30s", 90.0), ("100ms", 0.1), ("x", None)]
)
def test_durations(text: str, seconds: float | None) -> None:
    assert duration(text) == seconds


@given(st.text(max_size=300))
def test_reading_facts_never_crashes(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.mktemp("d") / "Dockerfile"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    facts = read_facts(path)
    assert all(1 <= port <= 65535 for port, _proto in facts.exposed)


def test_manifest_fields_for_folders_and_stages() -> None:
    spec = load_manifest_text(
        "machete:\n  path: services/api\n  target: prod\n", fmt="machete.yml"
    ).spec
    assert (spec.path, spec.target) == ("services/api", "prod")


def test_a_misspelt_manifest_key_suggests_the_right_one() -> None:
    loaded = load_manifest_text("machete:\n  helth_check: /x\n  prot: 80\n", fmt="machete.yml")
    assert "$.machete.helth_check: unknown key, ignored (did you mean 'health_check'?)" in (
        loaded.warnings
    )
    assert any("(did you mean 'port'?)" in w for w in loaded.warnings)
