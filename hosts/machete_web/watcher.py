"""Keeps the observed state current from the engine's event stream while ``machete serve``
runs, so listings and views never ask the engine per request (machete_core/observe.py)."""

from __future__ import annotations

import threading

from machete_core.machete import Machete


class EngineWatcher:
    def __init__(self, machete: Machete) -> None:
        self.machete = machete
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="machete-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self.stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        self.machete.keep_observed(self.stop)
