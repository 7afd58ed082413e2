"""A build failure's real cause in one line, ahead of the builder's raw text: the base image
that is not here, the Dockerfile line with an unknown instruction, the stage that does not
exist, the ``RUN`` that failed."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from machete_core.errors import BuildError
from machete_core.manifest.dockerfile import base_images
from machete_core.plugins.protocols import Builder, InspectsImages

_UNKNOWN = re.compile(
    r"(?:parse error|error)\s+(?:on\s+)?line\s+(\d+):\s*unknown instruction:\s*(\S+)", re.I
)
_STAGE = re.compile(
    r'target stage "?([^"\s]+)"? could not be found|build target (\S+) in Dockerfile', re.I
)
_RUN = re.compile(
    r'(?:process "|executor failed running \[|The command \')(?:/bin/sh -c )?(.+?)'
    r'(?:"|\]|\') (?:did not complete successfully: exit code|: exit code|returned a non-zero code)'
    r":?\s*(\d+)",
    re.I,
)
_PULL = re.compile(
    r"pull access denied|failed to resolve source metadata|no such host|manifest unknown|"
    r"manifest for \S+ not found|repository does not exist|dial tcp|i/o timeout",
    re.I,
)


def summarize(text: str, last_lines: Sequence[str], missing_bases: Sequence[str]) -> str | None:
    """The cause in one line, or None when the output says nothing recognisable."""
    output = "\n".join([text, *last_lines])
    found = _UNKNOWN.search(output)
    if found:
        return f"unknown instruction {found.group(2)} at line {found.group(1)} of the Dockerfile"
    found = _STAGE.search(output)
    if found:
        stage = found.group(1) or found.group(2)
        return f"the Dockerfile has no stage {stage!r} (--target or machete.target names it)"
    if missing_bases and _PULL.search(output):
        images = ", ".join(missing_bases)
        return (
            f"the base image {images} is not available on this machine and no registry can be "
            "reached to pull it: load or build it here first (docker load / docker import), "
            "or build FROM an image this engine has"
        )
    found = _RUN.search(output)
    if found:
        command, code = found.group(1).strip(), found.group(2)
        hint = " (command not found in the image)" if code == "127" else ""
        return f"RUN {command} failed with exit code {code}{hint}"
    return None


def with_cause(
    exc: BuildError, builder: Builder, dockerfile: Path, build_args: Mapping[str, str]
) -> BuildError:
    """The build error with its real cause as its first line (the raw text kept below)."""
    missing: list[str] = []
    if isinstance(builder, InspectsImages):
        missing = [
            image
            for image in base_images(dockerfile, build_args)
            if builder.image_labels(image) is None
        ]
    cause = summarize(exc.message, exc.last_lines, missing)
    if cause is None:
        return exc
    return type(exc)(f"{cause}\n{exc.message}", last_lines=exc.last_lines)
