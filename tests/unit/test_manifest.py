from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from machete_core.domain.naming import choose_name, slugify
from machete_core.domain.spec import ToolSpec, VolumeSpec
from machete_core.errors import InvalidNameError, ManifestError
from machete_core.manifest import load_manifest, load_manifest_text
from machete_core.manifest.converter import converter

TEMPLATE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "original-template"


def yml(text: str) -> ToolSpec:
    return load_manifest_text(text, fmt="machete.yml").spec


@pytest.fixture
def template_dir(tmp_path: Path) -> Path:
    if not TEMPLATE.is_dir():
        pytest.fail(f"the original template is missing at {TEMPLATE}")
    for f in TEMPLATE.iterdir():
        shutil.copy(f, tmp_path / f.name)
    return tmp_path


def test_original_template_machete_yml_loads_every_field(template_dir: Path) -> None:
    loaded = load_manifest(template_dir)
    spec = loaded.spec
    assert spec.name == "my-tool"
    assert spec.manifest_format == "machete.yml"
    assert spec.port == 8080 and spec.health_check == "/health"
    assert spec.category == "automation"
    assert spec.platform_version == ">=1.0.0"
    assert spec.environment == {"NODE_ENV": "production", "LOG_LEVEL": "info"}
    assert spec.volumes == (
        VolumeSpec("./data", "/app/data"),
        VolumeSpec("./config", "/app/config"),
    )
    assert spec.config == {"timeout": 30, "max_requests": 100}
    assert [r.path for r in spec.ui.routes] == ["/", "/settings"]
    assert spec.resources.memory == "512Mi" and spec.resources.cpu == "500m"
    assert spec.permissions.docker is False
    assert spec.setup.config_files == ("config/default.json",)
    assert loaded.package_name == "example-tool"
    assert any("setup.script" in w for w in loaded.warnings)


def test_tool_json_is_the_fallback(template_dir: Path) -> None:
    (template_dir / "machete.yml").unlink()
    loaded = load_manifest(template_dir)
    assert loaded.spec.manifest_format == "tool.json"
    assert loaded.spec.name == "example-tool"
    assert loaded.spec.port == 8080
    assert loaded.spec.environment == {"NODE_ENV": "production", "PORT": "8080"}
    assert loaded.spec.volumes == (VolumeSpec("./data", "/app/data"),)
    assert any("category" in w for w in loaded.warnings)  # "utility" is not a known category


def test_template_name_precedence(template_dir: Path) -> None:
    loaded = load_manifest(template_dir)
    url = "https://git.example.com/team/Template-Repo.git"
    assert choose_name(explicit="Team Tool", manifest=loaded.spec.name, url=url) == "team-tool"
    assert (
        choose_name(manifest=loaded.spec.name, package_json=loaded.package_name, url=url)
        == "my-tool"
    )
    assert choose_name(package_json=loaded.package_name, url=url) == "example-tool"
    assert choose_name(url=url) == "template-repo"


def test_no_manifest_gives_defaults_and_readme_description(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "README.md").write_text("# t\n\nThis tool does something quite useful indeed.\n")
    spec = load_manifest(tmp_path).spec
    # Nothing declared: the Dockerfile decides at deploy (inference), else the connect check.
    assert spec.port == 8080 and spec.health_check is None and spec.declared == ()
    assert spec.manifest_format == "none"
    assert spec.description == "This tool does something quite useful indeed."


def test_environment_list_and_mapping_are_equal() -> None:
    as_list = yml("machete:\n  environment:\n    - A=1\n    - B=x=y\n    - C=\n")
    as_map = yml("machete:\n  environment:\n    A: 1\n    B: x=y\n    C: ''\n")
    assert as_list.environment == as_map.environment == {"A": "1", "B": "x=y", "C": ""}


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("./data:/app/data", VolumeSpec("./data", "/app/data", False)),
        ("./data:/app/data:ro", VolumeSpec("./data", "/app/data", True)),
        ("cache:/var/cache:rw", VolumeSpec("cache", "/var/cache", False)),
    ],
)
def test_volumes_with_modes(entry: str, expected: VolumeSpec) -> None:
    assert yml(f"machete:\n  volumes: ['{entry}']\n").volumes == (expected,)


def test_every_problem_is_listed_with_its_path() -> None:
    with pytest.raises(ManifestError) as info:
        yml(
            "name: [1]\n"
            "machete:\n"
            "  port: true\n"
            "  environment: 5\n"
            "  volumes: ['nocolon', './a:relative']\n"
            "  health_check: health\n"
            "ui: 3\n"
        )
    problems = info.value.problems
    assert "$.name: expected a string" in problems
    assert "$.machete.port: expected an integer" in problems
    assert any(p.startswith("$.machete.environment:") for p in problems)
    assert any(p.startswith("$.machete.volumes[0]:") for p in problems)
    assert any(p.startswith("$.machete.volumes[1]:") for p in problems)
    assert "$.ui: expected a mapping" in problems
    assert info.value.code == "invalid_manifest"


def test_semantic_problems_have_paths() -> None:
    with pytest.raises(ManifestError) as info:
        yml("machete:\n  port: 70000\n  health_check: health\n  dockerfile: ../x\n")
    assert [p.split(":")[0] for p in info.value.problems] == [
        "$.machete.port",
        "$.machete.health_check",
        "$.machete.dockerfile",
    ]


def test_unknown_keys_are_warnings_not_errors() -> None:
    loaded = load_manifest_text(
        "name: t\nfuture: 1\nmachete:\n  port: 9000\n  shiny: true\n", fmt="machete.yml"
    )
    assert loaded.spec.port == 9000
    assert set(loaded.warnings) == {
        "$.future: unknown key, ignored",
        "$.machete.shiny: unknown key, ignored",
    }


@pytest.mark.parametrize(
    "text",
    ["", "null", "a: [", "- 1\n- 2", "'just a string'", "{{{", "!!python/object:os.system x"],
)
def test_bad_yaml_is_a_manifest_error(text: str) -> None:
    try:
        spec = yml(text)
    except ManifestError as exc:
        assert exc.problems and exc.problems[0].startswith("$")
    else:
        assert spec == ToolSpec(manifest_format="machete.yml")


@pytest.mark.parametrize(
    ("value", "slug"),
    [
        ("My Tool", "my-tool"),
        ("--a__b--", "a-b"),
        ("x" * 80, "x" * 40),
        ("Ünïcode Tøøl", "unicode-tl"),
    ],
)
def test_slugify(value: str, slug: str) -> None:
    assert slugify(value) == slug


def test_unusable_explicit_name_is_an_error() -> None:
    with pytest.raises(InvalidNameError):
        choose_name(explicit="!!!", manifest="fine")


def test_scoped_package_name() -> None:
    assert choose_name(package_json="@team/cool-tool") == "cool-tool"


# -- properties -------------------------------------------------------------------------

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
env_key = st.from_regex(r"[A-Z_][A-Z0-9_]{0,10}", fullmatch=True)
volume = st.builds(
    VolumeSpec,
    host=st.from_regex(r"\./[a-z]{1,8}", fullmatch=True),
    container=st.from_regex(r"/[a-z]{1,8}", fullmatch=True),
    read_only=st.booleans(),
)
specs = st.builds(
    ToolSpec,
    name=st.none() | text,
    version=st.none() | text,
    description=st.none() | text,
    port=st.integers(1, 65535),
    health_check=st.from_regex(r"/[a-z/]{0,10}", fullmatch=True),
    health_timeout=st.none() | st.floats(0.1, 1000),
    environment=st.dictionaries(env_key, text, max_size=4),
    volumes=st.lists(volume, max_size=3).map(tuple),
    dependencies=st.lists(text, max_size=3).map(tuple),
    config=st.dictionaries(st.text(max_size=5), st.integers() | text, max_size=3),
)


@given(specs)
def test_every_spec_round_trips_through_the_converter(spec: ToolSpec) -> None:
    conv = converter()
    data = conv.unstructure(spec)
    assert json.loads(json.dumps(data)) == data
    assert conv.structure(data, ToolSpec) == spec


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "name",
                    "machete",
                    "port",
                    "environment",
                    "volumes",
                    "ui",
                    "routes",
                    "docker",
                    "ports",
                    "permissions",
                    "filesystem",
                    "config",
                    "health_check",
                    "x",
                ]
            )
            | st.text(max_size=5),
            children,
            max_size=5,
        )
    ),
    max_leaves=25,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(json_values, st.sampled_from(["machete.yml", "tool.json"]))
def test_arbitrary_documents_only_raise_manifest_error(value: object, fmt: str) -> None:
    text = json.dumps(value) if fmt == "tool.json" else yaml.safe_dump(value)
    try:
        load_manifest_text(text, fmt=fmt)
    except ManifestError:
        pass


@settings(max_examples=300)
@given(st.text(max_size=200), st.sampled_from(["machete.yml", "tool.json"]))
def test_arbitrary_text_only_raises_manifest_error(text: str, fmt: str) -> None:
    try:
        load_manifest_text(text, fmt=fmt)
    except ManifestError:
        pass
