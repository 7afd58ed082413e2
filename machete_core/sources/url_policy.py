"""Which source locations MACHETE will touch at all.

Checked before any provider sees a URL. Only schemes the settings allow pass (https by default);
local paths count as ``file``. Credentials never travel inside URLs, and forms that Git
transports interpret as commands or options (``ext::``, scp-style, ``-`` hosts) never pass.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from machete_core.errors import SourcePolicyError

KNOWN_SCHEMES = ("https", "http", "ssh", "file")
_SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[^/:]+:")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def check_source_url(url: str, allowed: frozenset[str] | set[str]) -> str:
    """Return the URL to fetch (local paths become absolute ``file://`` URLs) or raise."""
    if not isinstance(url, str) or not url.strip():
        raise SourcePolicyError("the source URL is empty")
    url = url.strip()
    if _CONTROL.search(url):
        raise SourcePolicyError("the source URL contains spaces or control characters")
    if "::" in url.split("/", 1)[0]:
        raise SourcePolicyError(f"transport helpers like {url.split('::')[0]}:: are not allowed")
    if url.startswith("-"):
        raise SourcePolicyError("a source URL may not start with '-'")
    if "://" not in url:
        if _SCP_LIKE.match(url):
            raise SourcePolicyError(
                "scp-style locations (user@host:path) are not allowed; use ssh://user@host/path"
            )
        if url.startswith(("/", "./", "../", "~")) or url in (".", ".."):
            if "file" not in allowed:
                raise SourcePolicyError(
                    "local paths are not allowed here: an admin allows them with `machete settings "
                    "set allowed_schemes` including file (or MACHETE_ALLOWED_SCHEMES)"
                )
            return Path(url).expanduser().resolve().as_uri()
        raise SourcePolicyError(f"{url!r} is not a URL; expected e.g. https://host/team/tool.git")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise SourcePolicyError(f"the URL cannot be parsed: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in KNOWN_SCHEMES:
        raise SourcePolicyError(f"the URL scheme {scheme!r} is not supported")
    if scheme not in allowed:
        raise SourcePolicyError(
            f"the URL scheme {scheme!r} is not allowed (allowed: {', '.join(sorted(allowed))}); "
            f"an admin allows it with `machete settings set allowed_schemes "
            f"{','.join(sorted({*allowed, scheme}))}` (or MACHETE_ALLOWED_SCHEMES)"
        )
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise SourcePolicyError("file:// URLs must name a local path")
        return url
    if "@" in parts.netloc and (scheme != "ssh" or ":" in parts.netloc.rpartition("@")[0]):
        raise SourcePolicyError(
            "credentials in the URL are not allowed (they would end up in logs and configs): "
            "remove them and give them separately (CLI: --username with --password-stdin or "
            "--password-env; API: a 'credentials' object)"
        )
    try:
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise SourcePolicyError("the URL has an invalid host or port") from None
    if not host or host.startswith("-"):
        raise SourcePolicyError("the URL has no valid host")
    return url
