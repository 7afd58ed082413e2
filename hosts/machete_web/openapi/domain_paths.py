"""The domain and ingress routes of the OpenAPI document (``paths.py`` takes them in)."""

from __future__ import annotations

from machete_web import schemas as s
from machete_web.openapi.operation import Link, Op

T = "/api/tools/{tool}"
_PUBLISHED = {
    502: "Saved, but the ingress did not take the tool's new route (`ingress_failed`); the "
    "reconciler publishes it when the ingress answers."
}

DOMAIN_OPERATIONS: dict[tuple[str, str], Op] = {
    ("GET", "/api/domains"): Op("Every tool's custom domains", "domains", response=s.DomainList),
    ("GET", T + "/domains"): Op("A tool's custom domains", "domains", response=s.DomainList),
    ("POST", T + "/domains"): Op(
        "Route a host name to a tool, whole (admins: a name is the installation's)",
        "domains",
        status=201,
        body=s.DomainCreate,
        response=s.DomainEnvelope,
        errors={409: "The name routes to a tool already (`domain_taken`).", **_PUBLISHED},
        links={
            "remove": Link("DELETE", T + "/domains/{name}", "name", "$response.body#/domain/name")
        },
    ),
    ("DELETE", T + "/domains/{name}"): Op(
        "Stop routing a host name to a tool",
        "domains",
        response={
            "type": "object",
            "properties": {"removed": {"type": "string"}},
            "required": ["removed"],
            "additionalProperties": False,
        },
        errors=_PUBLISHED,
    ),
    ("GET", "/api/ingress"): Op(
        "What serves the tools, whether it does, and each tool's route against it",
        "domains",
        response=s.IngressEnvelope,
    ),
    ("GET", "/api/ingress/ca"): Op(
        "The ingress's internal CA root certificate (PEM), to trust its internal names",
        "domains",
        response=s.RootCertificate,
    ),
}
