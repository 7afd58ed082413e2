"""A Dockerfile's ``# syntax=`` frontend, once allowed (buildcheck.py), is pinned by digest
for the build: the builder resolves the tag it names (from a local copy, else from its
registry), and the workspace's copy of the Dockerfile names that digest, so a tag moved on the
registry after the check can never run in its place. One that cannot be resolved fails the
build before it starts, saying exactly that."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from machete_core.errors import BuildError
from machete_core.manifest.dockerfile import logical_lines
from machete_core.plugins.protocols import Builder, ResolvesImageDigests

_DIRECTIVE_PREFIX = "#"


def pin_frontend(dockerfile: Path, builder: Builder, say: Callable[[str], None]) -> str | None:
    """Rewrite the ``# syntax=`` line to the frontend's digest; returns the pinned reference
    (None when the Dockerfile names no frontend)."""
    text = dockerfile.read_text(encoding="utf-8", errors="replace")
    syntax = logical_lines(text)[0].get("syntax")
    if syntax is None:
        return None
    if "@sha256:" in syntax:
        return syntax  # pinned by its author already
    if not isinstance(builder, ResolvesImageDigests):
        raise BuildError(
            f"the Dockerfile's frontend {syntax} (# syntax=) cannot be pinned by this builder; "
            "remove the line (the built-in Dockerfile frontend builds the same file) or use "
            "the buildx builder"
        )
    pinned = builder.image_digest(syntax)
    lines = text.lstrip("\ufeff").splitlines(keepends=True)
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped.startswith(_DIRECTIVE_PREFIX):
            break
        key, _eq, _value = stripped[1:].partition("=")
        if key.strip().lower() == "syntax":
            lines[index] = f"# syntax={pinned}\n"
            break
    dockerfile.write_text("".join(lines), encoding="utf-8")
    say(f"the Dockerfile's frontend {syntax} is pinned to {pinned}")
    return pinned
