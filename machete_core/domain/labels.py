"""Ownership labels on every runtime object MACHETE creates (DESIGN §4)."""

from __future__ import annotations

TOOL = "io.machete.tool"
RELEASE = "io.machete.release"
INSTALLATION = "io.machete.installation"


def owned_by(installation: str, tool: str | None = None) -> dict[str, str]:
    """Selector for objects of one installation (and one tool)."""
    selector = {INSTALLATION: installation}
    if tool is not None:
        selector[TOOL] = tool
    return selector


def for_release(installation: str, tool: str, release: int) -> dict[str, str]:
    return {INSTALLATION: installation, TOOL: tool, RELEASE: str(release)}
