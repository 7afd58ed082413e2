from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from machete_core.domain.quantities import parse_cpu, parse_memory
from machete_core.errors import ManifestError
from machete_core.manifest import load_manifest_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("512Mi", 512 * 1024**2),
        ("1Gi", 1024**3),
        ("500M", 500 * 1000**2),
        ("1.5Gi", 1536 * 1024**2),
        ("67108864", 67108864),
        ("64Ki", None),
    ],
)
def test_memory(text: str, expected: int | None) -> None:
    if expected is None:
        with pytest.raises(ValueError):
            parse_memory(text)  # below the engine's 6 MiB floor
    else:
        assert parse_memory(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"), [("500m", 500_000_000), ("0.5", 500_000_000), ("2", 2_000_000_000)]
)
def test_cpu(text: str, expected: int) -> None:
    assert parse_cpu(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "512MB", "-1Gi", "1e3", "0", "64Ki"])
def test_bad_memory(text: str) -> None:
    with pytest.raises(ValueError):
        parse_memory(text)


@pytest.mark.parametrize("text", ["", "lots", "-1", "0", "0m", "nan", "inf", "0.0000001", "2000"])
def test_bad_cpu(text: str) -> None:
    with pytest.raises(ValueError):
        parse_cpu(text)


@given(st.text(max_size=12))
def test_parsers_only_raise_value_error(text: str) -> None:
    for parse in (parse_memory, parse_cpu):
        try:
            parse(text)
        except ValueError:
            pass


def test_manifest_validates_resources_with_paths() -> None:
    with pytest.raises(ManifestError) as info:
        load_manifest_text("resources:\n  memory: lots\n  cpu: fast\n", fmt="machete.yml")
    assert [p.split(":")[0] for p in info.value.problems] == [
        "$.resources.memory",
        "$.resources.cpu",
    ]
