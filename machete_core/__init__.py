"""MACHETE's core library: domain, contracts, pipeline and state.

Framework-agnostic and synchronous. Importing this package is cheap: the heavy parts (SQLAlchemy's
ORM, the plugin manager) load when a :class:`Machete` is created, so CLIs stay fast.

Typical use::

    from machete_core import create_machete

    m = create_machete()
    op = m.install("https://git.example.com/team/tool.git")
    print(m.get(op.tool_name).status)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from machete_core.errors import MacheteError

if TYPE_CHECKING:
    from machete_core.machete import Machete, create_machete
    from machete_core.settings import Settings
    from machete_core.version import __version__

__all__ = ["Machete", "MacheteError", "Settings", "__version__", "create_machete"]


def __getattr__(name: str) -> Any:
    # Lazy re-exports keep `import machete_core` free of SQLAlchemy and pluggy.
    if name in ("Machete", "create_machete"):
        from machete_core import machete

        return getattr(machete, name)
    if name == "__version__":
        # Reading the distribution's metadata costs more than the rest of this package.
        from machete_core.version import __version__

        return __version__
    if name == "Settings":
        from machete_core.settings import Settings

        return Settings
    raise AttributeError(name)
