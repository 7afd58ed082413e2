"""Tool names: the precedence rule and the DNS-safe slug every name is normalized to."""

from __future__ import annotations

import hashlib
import re
import unicodedata

from machete_core.errors import InvalidNameError

MAX_NAME_LENGTH = 40  # leaves room for prefixes and release suffixes within a 63-char DNS label
_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")


def slugify(value: str) -> str:
    """Lower-case, runs of anything but ``[a-z0-9]`` become one ``-``, trimmed, at most 40 chars."""
    # Accented letters keep their base letter ("Ünïcode" -> "unicode").
    ascii_text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.strip().lower()).strip("-")
    return slug[:MAX_NAME_LENGTH].rstrip("-")


def is_valid_name(value: str) -> bool:
    return len(value) <= MAX_NAME_LENGTH and bool(_NAME_RE.match(value))


def url_basename(url: str) -> str:
    """``https://host/team/my-tool.git`` -> ``my-tool``; also for archives (``.tar.gz``...)."""
    tail = url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0].split("#", 1)[0]
    for suffix in (".git", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar", ".zip"):
        if tail.endswith(suffix):
            return tail[: -len(suffix)]
    return tail


def choose_name(
    *,
    explicit: str | None = None,
    manifest: str | None = None,
    package_json: str | None = None,
    url: str | None = None,
) -> str:
    """Apply the name rule: explicit > manifest > package.json > URL basename, slugified.

    The first candidate that yields a non-empty slug wins. An explicit name that slugifies to
    nothing is an error rather than silently replaced by another candidate.
    """
    if explicit is not None:
        slug = slugify(explicit)
        if not slug:
            raise InvalidNameError(
                f"{explicit!r} is not a usable tool name: use letters, digits and dashes"
            )
        return slug
    for candidate in (manifest, _unscope(package_json), url_basename(url) if url else None):
        if candidate:
            slug = slugify(candidate)
            if slug:
                return slug
    raise InvalidNameError("could not derive a tool name: pass one explicitly (--name)")


def _unscope(name: str | None) -> str | None:
    # npm scopes ("@team/tool") name the tool after the slash.
    if name and name.startswith("@") and "/" in name:
        return name.split("/", 1)[1]
    return name


def installation_scope(installation: str) -> str:
    """A short, name-safe token for an installation in engine object names: the id itself
    when it is a short DNS label, else a digest of it. Swarm service names stop at 63
    characters, and a tool name may take 40 of them."""
    if len(installation) <= 8 and _NAME_RE.match(installation):
        return installation
    return hashlib.sha256(installation.encode()).hexdigest()[:8]


def container_name(installation: str, tool: str, release: int) -> str:
    """``mch-<installation>-<tool>-r<N>``: two installations on one engine never share one."""
    return f"mch-{installation_scope(installation)}-{tool}-r{release}"


def network_name(installation: str, tool: str) -> str:
    return f"machete-{installation}-{tool}"


def image_repository(installation: str, tool: str) -> str:
    return f"machete-{installation_scope(installation)}-{tool}"
