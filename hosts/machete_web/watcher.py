"""Keeps the observed state current from the engine's event stream while ``machete serve``
runs, so listings and views never ask the engine per request (machete_core/observe.py)."""

from __future__ import annotations

import logging
import threading

from machete_core.domain import labels
from machete_core.machete import Machete
from machete_core.observe import refresh_instance, refresh_observed
from machete_core.plugins.protocols import WatchesInstances

log = logging.getLogger(__name__)


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
        m = self.machete
        try:
            runtime = m.runtime(m.settings.default_runtime)
        except Exception:
            log.warning("no runtime to watch; views will observe on demand")
            return
        if not isinstance(runtime, WatchesInstances):
            return
        selector = labels.owned_by(m.settings.installation)
        while not self.stop.is_set():
            try:
                stream = runtime.watch(selector, self.stop)
                # Trusted from now on: anything that changes arrives as an event. What
                # changed while the stream was down is caught by observing everything once.
                m.observed.watched = True
                refresh_observed(m)
                for instance_id in stream:
                    refresh_instance(m, instance_id)
            except Exception as exc:
                log.warning("the engine's event stream broke (%s); retrying", exc)
            finally:
                m.observed.watched = False
            self.stop.wait(1.0)
