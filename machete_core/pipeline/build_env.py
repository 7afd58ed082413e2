"""What every build gets from the platform's settings besides the tool's own arguments: the
company proxy (Docker's predefined proxy build arguments, which no image keeps unless its
Dockerfile copies them into ``ENV``) and an extra CA bundle (a BuildKit secret, mounted only
where a ``RUN --mount=type=secret,id=machete_ca`` asks for it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from machete_core.errors import InvalidInputError
from machete_core.settings import Settings

CA_SECRET = "machete_ca"


def proxy_build_args(settings: Settings, own: Mapping[str, str]) -> dict[str, str]:
    """The proxy arguments (both spellings, as tools read either), unless the tool sets its
    own."""
    found: dict[str, str] = {}
    for name, value in (
        ("HTTP_PROXY", settings.build_http_proxy),
        ("HTTPS_PROXY", settings.build_https_proxy),
        ("NO_PROXY", settings.build_no_proxy),
    ):
        if not value:
            continue
        for key in (name, name.lower()):
            if key not in own:
                found[key] = value
    return found


def build_secrets(settings: Settings, say: Callable[[str], None]) -> dict[str, Path]:
    if not settings.build_ca_bundle:
        return {}
    bundle = Path(settings.build_ca_bundle)
    if not bundle.is_file():
        raise InvalidInputError(
            f"the build CA bundle {bundle} is not a file (machete settings set "
            "build_ca_bundle PATH, or MACHETE_BUILD_CA_BUNDLE)"
        )
    say(f"the extra CA bundle is offered to the build as the secret {CA_SECRET}")
    return {CA_SECRET: bundle}
