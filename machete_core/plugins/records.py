"""Typed records the registration hooks return, and what the manager reports about plugins."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from machete_core.plugins.protocols import Builder, Ingress, Runtime, Source
    from machete_core.settings import Settings


def _always_available() -> str | None:
    return None


@attrs.frozen
class SourceProvider:
    """Returned by ``machete_register_sources``."""

    name: str
    factory: Callable[[Settings], Source]
    #: True if this provider handles the URL (checked in registration order).
    handles: Callable[[str], bool]
    description: str = ""
    availability: Callable[[], str | None] = _always_available
    #: The provider API this record was written for (see ``PROVIDER_API_VERSION``).
    api_version: int = 1


@attrs.frozen
class BuilderProvider:
    """Returned by ``machete_register_builders``."""

    name: str
    factory: Callable[[Settings], Builder]
    description: str = ""
    #: Returns None when usable, else the reason it is not (shown by ``machete plugins``).
    availability: Callable[[], str | None] = _always_available
    api_version: int = 1


@attrs.frozen
class RuntimeProvider:
    """Returned by ``machete_register_runtimes``."""

    name: str
    factory: Callable[[Settings], Runtime]
    description: str = ""
    availability: Callable[[], str | None] = _always_available
    api_version: int = 1


@attrs.frozen
class IngressProvider:
    """Returned by ``machete_register_ingresses``."""

    name: str
    factory: Callable[[Settings], Ingress]
    description: str = ""
    availability: Callable[[], str | None] = _always_available
    api_version: int = 1


@attrs.frozen
class ProviderInfo:
    kind: str
    name: str
    description: str
    plugin: str
    api_version: int = 1
    #: Optional capabilities (Protocol names) the provider's class has.
    capabilities: tuple[str, ...] = ()


@attrs.frozen
class PluginInfo:
    """One plugin as ``machete plugins`` lists it."""

    name: str
    module: str
    distribution: str | None
    version: str | None
    builtin: bool
    #: ``ok``, ``failed`` (with ``error``) or ``disabled``.
    status: str
    kinds: tuple[str, ...] = ()
    providers: tuple[ProviderInfo, ...] = ()
    error: str | None = None
