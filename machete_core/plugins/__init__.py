"""The plugin contract (hookspecs, records, protocols) and the manager that loads plugins."""

import pluggy

PROJECT_NAME = "machete"
ENTRY_POINT_GROUP = "machete"

#: Decorator for plugin hook implementations: ``@hookimpl def machete_register_sources(): ...``
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
hookspec = pluggy.HookspecMarker(PROJECT_NAME)

__all__ = ["ENTRY_POINT_GROUP", "PROJECT_NAME", "hookimpl", "hookspec"]
