"""A build failure's cause in one line, from what real builders print."""

from __future__ import annotations

import pytest

from machete_core.pipeline.build_failures import summarize


@pytest.mark.parametrize(
    ("output", "missing", "cause"),
    [
        (
            "ERROR: failed to solve: dockerfile parse error on line 3: unknown instruction: FORM",
            [],
            "unknown instruction FORM at line 3 of the Dockerfile",
        ),
        (
            "Dockerfile parse error line 2: unknown instruction: RUNN",
            [],
            "unknown instruction RUNN at line 2 of the Dockerfile",
        ),
        (
            'ERROR: failed to solve: target stage "prod" could not be found',
            [],
            "the Dockerfile has no stage 'prod' (--target or machete.target names it)",
        ),
        (
            "ERROR: failed to solve: python:3.12: failed to resolve source metadata for "
            "docker.io/library/python:3.12: dial tcp: lookup registry-1.docker.io: no such host",
            ["python:3.12"],
            "the base image python:3.12 is not available on this machine",
        ),
        (
            "pull access denied for nosuch/base, repository does not exist",
            ["nosuch/base"],
            "the base image nosuch/base is not available",
        ),
        (
            'ERROR: process "/bin/sh -c pip install -r req.txt" did not complete '
            "successfully: exit code: 127",
            [],
            "RUN pip install -r req.txt failed with exit code 127 (command not found in the image)",
        ),
        (
            "The command '/bin/sh -c make' returned a non-zero code: 2",
            [],
            "RUN make failed with exit code 2",
        ),
    ],
)
def test_causes(output: str, missing: list[str], cause: str) -> None:
    summary = summarize("build failed", [output], missing)
    assert summary is not None and summary.startswith(cause)


def test_nothing_recognisable_adds_nothing() -> None:
    assert summarize("build failed", ["something odd"], []) is None
    # A pull error with every base present is not about the base.
    assert summarize("x", ["no such host"], []) is None
