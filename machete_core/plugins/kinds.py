"""The table of provider kinds: one row per kind, iterated by the manager, the availability
report and the core's typed accessors. A new kind of provider is a new row here (plus its
hook in hookspecs.py, its record in records.py and its Protocol in protocols.py)."""

from __future__ import annotations

from typing import Any

import attrs

from machete_core.plugins.protocols import (
    AddressesOnNetwork,
    Builder,
    Closeable,
    Ingress,
    InspectsImages,
    IssuesCertificates,
    KnowsImageUsers,
    ListsImages,
    ReplicatedRuntime,
    ReportsListeningPorts,
    ResolvesImageDigests,
    Runtime,
    ServesFromState,
    Source,
    SupervisedIngress,
    WatchesInstances,
)
from machete_core.plugins.records import (
    BuilderProvider,
    IngressProvider,
    RuntimeProvider,
    SourceProvider,
)

#: The version of the provider records and Protocols this MACHETE speaks. A record that asks
#: for a newer one is refused (its plugin is reported as failed), never half-used.
PROVIDER_API_VERSION = 1


@attrs.frozen
class ProviderKind:
    name: str
    #: The registration hook that returns this kind's records.
    hook: str
    record: type[Any]
    protocol: type[Any]
    #: Optional capabilities a provider of this kind may have (runtime-checkable Protocols).
    capabilities: tuple[type[Any], ...] = ()


KINDS: tuple[ProviderKind, ...] = (
    ProviderKind("source", "machete_register_sources", SourceProvider, Source, (Closeable,)),
    ProviderKind(
        "builder",
        "machete_register_builders",
        BuilderProvider,
        Builder,
        (InspectsImages, ListsImages, ResolvesImageDigests, Closeable),
    ),
    ProviderKind(
        "runtime",
        "machete_register_runtimes",
        RuntimeProvider,
        Runtime,
        (
            ReplicatedRuntime,
            WatchesInstances,
            ReportsListeningPorts,
            KnowsImageUsers,
            AddressesOnNetwork,
            Closeable,
        ),
    ),
    ProviderKind(
        "ingress",
        "machete_register_ingresses",
        IngressProvider,
        Ingress,
        (SupervisedIngress, IssuesCertificates, ServesFromState, Closeable),
    ),
)
KIND_NAMES: tuple[str, ...] = tuple(k.name for k in KINDS)


def kind(name: str) -> ProviderKind:
    for row in KINDS:
        if row.name == name:
            return row
    raise KeyError(name)


def capabilities(kind_name: str, factory: object) -> tuple[str, ...]:
    """The names of the optional capabilities of what ``factory`` builds, when it is a class
    (a factory function does not say until it is called; its providers list none)."""
    if not isinstance(factory, type):
        return ()
    return tuple(c.__name__ for c in kind(kind_name).capabilities if issubclass(factory, c))
