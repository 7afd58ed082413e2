"""What notifications need of the core, as a protocol: the :class:`~machete_core.context.Core`
has it, and builds the notifier, so this package never imports the context (no circle)."""

from __future__ import annotations

from typing import Protocol

from machete_core.events import EventBus
from machete_core.secrets import SecretBox
from machete_core.settings import Settings
from machete_core.state.store import Store


class Platform(Protocol):
    settings: Settings
    events: EventBus

    @property
    def store(self) -> Store: ...

    @property
    def secrets(self) -> SecretBox: ...

    def config_secrets(self, tool_id: int) -> tuple[str, ...]: ...
