"""Connections to one tool at once, so one hanging tool never starves the others."""

from __future__ import annotations

import asyncio


class ToolLimits:
    def __init__(self, per_tool: int) -> None:
        self.per_tool = per_tool
        self._slots: dict[str, asyncio.Semaphore] = {}

    def slots(self, tool: str) -> asyncio.Semaphore:
        slot = self._slots.get(tool)
        if slot is None:
            slot = self._slots[tool] = asyncio.Semaphore(self.per_tool)
        return slot
