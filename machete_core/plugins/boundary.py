"""The error boundary around every provider: a plugin's bug becomes a :class:`PluginFailedError`
that names the plugin, its distribution and version, never an anonymous traceback.

MACHETE's own errors (a ``BuildError``, a ``CancelledError``...) pass through untouched: they are
the contract. Anything else raised by a provider's factory, a method, or while iterating what a
method returned (logs, event streams) is wrapped.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import attrs

from machete_core.errors import MacheteError, PluginFailedError

T = TypeVar("T")


@attrs.frozen
class Culprit:
    """Who to blame: the provider and the plugin that offers it."""

    kind: str
    provider: str
    plugin: str
    distribution: str | None
    version: str | None

    def describe(self) -> str:
        dist = self.distribution or "an unknown distribution"
        version = f" {self.version}" if self.version else ""
        return f"plugin {self.plugin!r} ({dist}{version})"


def blame(culprit: Culprit, where: str, exc: Exception) -> PluginFailedError:
    return PluginFailedError(
        f"the {culprit.kind} {culprit.provider!r} of {culprit.describe()} failed in {where}: "
        f"{type(exc).__name__}: {exc}",
        details={
            "kind": culprit.kind,
            "provider": culprit.provider,
            "plugin": culprit.plugin,
            "distribution": culprit.distribution,
            "version": culprit.version,
        },
    )


def guarded_call(culprit: Culprit, where: str, fn: Callable[..., T], *args: Any) -> T:
    try:
        return fn(*args)
    except MacheteError:
        raise
    except Exception as exc:
        raise blame(culprit, where, exc) from exc


def _guard_iterator(culprit: Culprit, where: str, items: Iterator[Any]) -> Iterator[Any]:
    try:
        yield from items
    except MacheteError:
        raise
    except Exception as exc:
        raise blame(culprit, where, exc) from exc


class Guarded:
    """Stands in for a provider object: same methods, each call inside the boundary.

    Attribute look-ups reach the provider, so ``isinstance`` checks against the (runtime
    checkable) capability Protocols see exactly what the provider has.
    """

    def __init__(self, provider: object, culprit: Culprit) -> None:
        self._provider = provider
        self._culprit = culprit

    @property
    def unwrapped(self) -> object:
        return self._provider

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._provider, name)
        if name.startswith("_") or not callable(value):
            return value
        culprit = self._culprit

        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                result = value(*args, **kwargs)
            except MacheteError:
                raise
            except Exception as exc:
                raise blame(culprit, f"{name}()", exc) from exc
            if isinstance(result, Iterator):
                return _guard_iterator(culprit, f"{name}()", result)
            return result

        return call

    def __repr__(self) -> str:
        return f"<guarded {self._culprit.kind} {self._culprit.provider!r}: {self._provider!r}>"
