"""Fault injection for the crash-safety tests: die at a chosen point of an operation.

``MACHETE_TEST_CRASH_AT=<step>:<before|after>`` makes the process exit at once, with no
clean-up of any kind (``os._exit``), when an operation reaches that point: ``before`` right
after the step is recorded as begun, ``after`` right after it is recorded as done. This is
how a power cut or ``kill -9`` looks to the next process on the same state.
"""

from __future__ import annotations

import os

CRASH_ENV = "MACHETE_TEST_CRASH_AT"
#: The exit status of an injected crash (as ``kill -9`` would give 128 + 9).
CRASH_EXIT_STATUS = 137


def crash_point(step: str, when: str) -> None:
    wanted = os.environ.get(CRASH_ENV)
    if wanted and wanted == f"{step}:{when}":
        os._exit(CRASH_EXIT_STATUS)
