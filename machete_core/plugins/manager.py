"""Finding, loading and querying plugins.

Entry points in the ``machete`` group are imported only when a provider is first needed, so
``machete --help`` stays fast. A plugin that fails to import is reported (``status=failed``) and
skipped; two providers of one kind with one name stop start-up with a
:class:`~machete_core.errors.PluginConflictError`.
"""

from __future__ import annotations

import functools
import importlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from importlib import metadata
from types import ModuleType
from typing import Any, cast

import attrs
import pluggy

from machete_core.domain.records import Event
from machete_core.errors import (
    PluginConflictError,
    PluginFailedError,
    ProviderNotFoundError,
    ProviderUnavailableError,
)
from machete_core.plugins import ENTRY_POINT_GROUP, PROJECT_NAME, hookspecs
from machete_core.plugins.boundary import Culprit
from machete_core.plugins.kinds import KINDS, PROVIDER_API_VERSION, capabilities, kind
from machete_core.plugins.records import (
    BuilderProvider,
    PluginInfo,
    ProviderInfo,
    RuntimeProvider,
    SourceProvider,
)

log = logging.getLogger(__name__)
AVAILABILITY_TTL_S = 30.0

Provider = SourceProvider | BuilderProvider | RuntimeProvider


@attrs.define
class _Candidate:
    name: str
    module: str
    distribution: str | None
    version: str | None
    builtin: bool
    load: Callable[[], Any]


class PluginManager:
    """Owns one pluggy manager; built per :class:`~machete_core.machete.Machete`, never global.

    :param builtins: module names of the bundled plugins, handed over by the host. They are
        normally found through their own entry points like any plugin; the list marks them as
        bundled and loads them directly when the distribution's metadata is not installed.
    :param disabled: entry-point names not to load; ``*`` disables every non-bundled plugin.
    """

    def __init__(
        self,
        builtins: Sequence[str] = (),
        disabled: Iterable[str] = (),
        entry_points: Callable[[], Iterable[metadata.EntryPoint]] | None = None,
    ) -> None:
        self._builtins = tuple(builtins)
        self._disabled = frozenset(disabled)
        self._entry_points = entry_points or (
            lambda: metadata.entry_points(group=ENTRY_POINT_GROUP)
        )
        self._lock = threading.Lock()
        self._loaded = False
        self._pm = pluggy.PluginManager(PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self._infos: dict[str, PluginInfo] = {}
        self._providers: dict[str, dict[str, tuple[Provider, str]]] | None = None
        self._availability: dict[tuple[str, str], tuple[float, str | None]] = {}
        self._host_specs: list[ModuleType | type] = []

    # -- loading -------------------------------------------------------------------------

    def load(self) -> None:
        """Import every enabled plugin once; failures are recorded, not raised."""
        with self._lock:
            if self._loaded:
                return
            for cand in self._candidates():
                self._load_one(cand)
            self._loaded = True

    def register(
        self, plugin: object, name: str, *, builtin: bool = False, listed: bool = True
    ) -> None:
        """Register an in-process plugin object (tests, embedding applications). A host's own
        part (``listed=False``, e.g. the server's metrics observer) is not in the listing:
        ``machete plugins`` says the same through a server and on the state."""
        self.load()
        with self._lock:
            self._pm.register(plugin, name=name)
            if not listed:
                return
            self._infos[name] = PluginInfo(
                name=name,
                module=getattr(plugin, "__name__", type(plugin).__name__),
                distribution=None,
                version=None,
                builtin=builtin,
                status="ok",
            )
            self._providers = None

    def unregister(self, name: str) -> None:
        """Remove an in-process plugin registered with :meth:`register` (e.g. a server's
        metrics observer when the server stops)."""
        with self._lock:
            plugin = self._pm.get_plugin(name)
            if plugin is not None:
                self._pm.unregister(plugin, name=name)
            self._infos.pop(name, None)
            self._providers = None

    def is_registered(self, name: str) -> bool:
        self.load()
        return self._pm.get_plugin(name) is not None

    def _candidates(self) -> list[_Candidate]:
        found: list[_Candidate] = []
        seen_values: set[str] = set()
        for ep in sorted(self._entry_points(), key=lambda e: e.name):
            if ep.value in seen_values:
                continue  # the same module visible twice (e.g. an editable install)
            seen_values.add(ep.value)
            dist = getattr(ep, "dist", None)
            found.append(
                _Candidate(
                    name=ep.name,
                    module=ep.value,
                    distribution=dist.name if dist else None,
                    version=dist.version if dist else None,
                    builtin=ep.value in self._builtins,
                    load=ep.load,
                )
            )
        for module in self._builtins:
            if module not in seen_values:
                found.append(
                    _Candidate(
                        name=module.rsplit(".", 1)[-1],
                        module=module,
                        distribution="machete",
                        version=None,
                        builtin=True,
                        load=functools.partial(importlib.import_module, module),
                    )
                )
        return found

    def _is_disabled(self, cand: _Candidate) -> bool:
        if cand.name in self._disabled:
            return True
        return "*" in self._disabled and not cand.builtin

    def _load_one(self, cand: _Candidate) -> None:
        info = PluginInfo(
            name=cand.name,
            module=cand.module,
            distribution=cand.distribution,
            version=cand.version,
            builtin=cand.builtin,
            status="ok",
        )
        if self._is_disabled(cand):
            self._infos[cand.name] = attrs.evolve(info, status="disabled")
            return
        try:
            plugin = cand.load()
            if self._pm.is_registered(plugin):
                return
            self._pm.register(plugin, name=cand.name)
        except Exception as exc:  # a broken plugin must not take the platform down
            log.warning("plugin %s (%s) failed to load: %s", cand.name, cand.module, exc)
            self._infos[cand.name] = attrs.evolve(
                info, status="failed", error=f"{type(exc).__name__}: {exc}"
            )
            return
        self._infos[cand.name] = info

    # -- providers -----------------------------------------------------------------------

    def _collect(self) -> dict[str, dict[str, tuple[Provider, str]]]:
        self.load()
        with self._lock:
            if self._providers is not None:
                return self._providers
            providers: dict[str, dict[str, tuple[Provider, str]]] = {k.name: {} for k in KINDS}
            for row in KINDS:
                hook = getattr(self._pm.hook, row.hook)
                for impl in reversed(hook.get_hookimpls()):  # registration order
                    for record in self._call_registration(impl, row.name):
                        clash = providers[row.name].get(record.name)
                        if clash is not None:
                            raise PluginConflictError(
                                f"two plugins offer a {row.name} named {record.name!r}: "
                                f"{self._describe(clash[1])} and "
                                f"{self._describe(impl.plugin_name)}",
                                details={
                                    "kind": row.name,
                                    "name": record.name,
                                    "plugins": [clash[1], impl.plugin_name],
                                },
                            )
                        providers[row.name][record.name] = (record, impl.plugin_name)
            for name, info in list(self._infos.items()):
                mine = [
                    ProviderInfo(
                        kind=k,
                        name=n,
                        description=rec.description,
                        plugin=name,
                        api_version=rec.api_version,
                        capabilities=capabilities(k, rec.factory),
                    )
                    for k, table in providers.items()
                    for n, (rec, owner) in table.items()
                    if owner == name
                ]
                if info.status == "ok":
                    self._infos[name] = attrs.evolve(
                        info,
                        providers=tuple(mine),
                        kinds=tuple(sorted({p.kind for p in mine})),
                    )
            self._providers = providers
            return providers

    def _call_registration(self, impl: pluggy.HookImpl, kind_name: str) -> list[Provider]:
        expected = kind(kind_name).record
        try:
            result = cast(Iterable[Provider] | None, impl.function())
            records = list(result or ())
            for record in records:
                if not isinstance(record, expected):
                    raise TypeError(f"expected {expected.__name__}, got {type(record).__name__}")
                if record.api_version > PROVIDER_API_VERSION:
                    raise TypeError(
                        f"the {kind_name} {record.name!r} needs provider API "
                        f"{record.api_version}; this MACHETE speaks {PROVIDER_API_VERSION}"
                    )
            return records
        except Exception as exc:
            log.warning("plugin %s failed to register %ss: %s", impl.plugin_name, kind_name, exc)
            self._mark_failed(impl.plugin_name, f"{type(exc).__name__}: {exc}")
            return []

    def _mark_failed(self, plugin_name: str, error: str) -> None:
        info = self._infos.get(plugin_name)
        if info is not None:
            self._infos[plugin_name] = attrs.evolve(info, status="failed", error=error)

    def _describe(self, plugin_name: str) -> str:
        info = self._infos.get(plugin_name)
        dist = info.distribution if info and info.distribution else "unknown distribution"
        return f"plugin {plugin_name!r} from {dist}"

    def culprit(self, kind: str, name: str) -> Culprit:
        """Who offers the provider: what an error from it is blamed on."""
        owner = self._collect()[kind][name][1]
        info = self._infos.get(owner)
        return Culprit(
            kind=kind,
            provider=name,
            plugin=owner,
            distribution=info.distribution if info else None,
            version=info.version if info else None,
        )

    def provider(self, kind: str, name: str) -> Provider:
        table = self._collect()[kind]
        if name not in table:
            known = ", ".join(sorted(table)) or "none"
            raise ProviderNotFoundError(f"no {kind} named {name!r} (available: {known})")
        record = table[name][0]
        reason = self.availability(kind, name)
        if reason:
            raise ProviderUnavailableError(f"the {kind} {name!r} is unavailable: {reason}")
        return record

    def source_for(self, url: str, kind: str = "") -> SourceProvider:
        table = self._collect()["source"]
        if kind:
            record = self.provider("source", kind)
            assert isinstance(record, SourceProvider)
            return record
        for record, _owner in table.values():
            assert isinstance(record, SourceProvider)
            if record.handles(url):
                return record
        raise ProviderNotFoundError(f"no source provider handles {url!r}")

    def providers(self, kind: str) -> dict[str, Provider]:
        return {name: rec for name, (rec, _o) in self._collect()[kind].items()}

    def plugins(self) -> list[PluginInfo]:
        """Every plugin found, loaded, failed or disabled (raises on a provider conflict)."""
        self._collect()
        with self._lock:
            return sorted(self._infos.values(), key=lambda i: (not i.builtin, i.name))

    def availability(self, kind: str, name: str) -> str | None:
        """None if the provider is usable, else why not. Cached briefly: checks may be slow."""
        now = time.monotonic()
        cached = self._availability.get((kind, name))
        if cached is not None and now - cached[0] < AVAILABILITY_TTL_S:
            return cached[1]
        record = self._collect()[kind][name][0]
        try:
            reason = record.availability()
        except Exception as exc:
            reason = f"availability check failed: {exc}"
        self._availability[(kind, name)] = (now, reason)
        return reason

    # -- host hooks ----------------------------------------------------------------------

    def add_hookspecs(self, module: ModuleType | type) -> None:
        """Add a host's own hook specifications (extra web routes...); the core has none of
        these, the host that calls them does. Adding one twice (two apps on one Machete) is
        a no-op."""
        with self._lock:
            if module in self._host_specs:
                return
            self._host_specs.append(module)
        self._pm.add_hookspecs(module)

    def implements(self, name: str) -> bool:
        """Does any loaded plugin implement the hook ``name``?"""
        self.load()
        return bool(getattr(self._pm.hook, name).get_hookimpls())

    def call_host_hook(
        self, name: str, *, fail_closed: bool = False, **kwargs: Any
    ) -> list[tuple[str, Any]]:
        """Call a hook on every plugin that implements it; returns ``(plugin, result)``
        pairs. A plugin that raises is logged and reported as failed; the others still run,
        unless ``fail_closed`` (permission rules), where the failure is raised as
        ``plugin_failed`` so the caller can refuse."""
        self.load()
        results: list[tuple[str, Any]] = []
        for impl in reversed(getattr(self._pm.hook, name).get_hookimpls()):
            try:
                results.append((impl.plugin_name, impl.function(**kwargs)))
            except Exception as exc:
                log.warning("plugin %s failed in %s: %s", impl.plugin_name, name, exc)
                self._mark_failed(impl.plugin_name, f"{name}: {type(exc).__name__}: {exc}")
                if fail_closed:
                    raise PluginFailedError(
                        f"plugin {impl.plugin_name} failed in {name}: {exc}"
                    ) from exc
        return results

    # -- events --------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        """Tell every observer; one failing observer is logged and the rest still run."""
        self.load()
        for impl in self._pm.hook.machete_on_event.get_hookimpls():
            try:
                impl.function(event=event)
            except Exception:
                log.exception("event observer in plugin %s failed", impl.plugin_name)
