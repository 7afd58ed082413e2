"""The ``caddy`` ingress (docs/ingress.md): Caddy in front of the tools, with host names,
custom domains and TLS, driven through its admin API."""

from __future__ import annotations

import shutil

from machete_core.plugins import hookimpl
from machete_core.plugins.records import IngressProvider
from machete_plugins.caddy.ingress import CaddyIngress


def _availability() -> str | None:
    if shutil.which("caddy") is None:
        # An external Caddy (MACHETE_CADDY_ADMIN) needs no program here.
        return "no caddy program here (apt-get install caddy); an external Caddy still works"
    return None


@hookimpl
def machete_register_ingresses() -> list[IngressProvider]:
    return [
        IngressProvider(
            name="caddy",
            factory=CaddyIngress,
            description="Caddy through its admin API: host names, custom domains, TLS",
            availability=_availability,
        )
    ]
