"""What ``machete plugins`` and ``GET /api/plugins`` show: every plugin, its providers with
their capabilities and api version, and whether each provider can be used here (and why not)."""

from __future__ import annotations

from typing import Any

from machete_core.plugins.manager import PluginManager
from machete_core.views import to_data


def plugin_report(plugins: PluginManager) -> list[dict[str, Any]]:
    """Plugins as JSON-ready data, each provider with ``available`` and the reason if not."""
    data: list[dict[str, Any]] = to_data(plugins.plugins())
    for plugin in data:
        for provider in plugin["providers"]:
            reason = plugins.availability(provider["kind"], provider["name"])
            provider["available"] = reason is None
            provider["unavailable_reason"] = reason
    return data
