"""Runs in separate processes to hammer one SQLite file (see tests/unit/test_store.py)."""

from __future__ import annotations

import sys
import uuid

from machete_core.domain.operations import SYSTEM
from machete_core.state.store import Store


def work(url: str, worker: int, rounds: int) -> int:
    store = Store.open(url)
    errors = 0
    try:
        for i in range(rounds):
            try:
                tool = store.get_tool("shared")
                store.update_tool(tool.id, status_reason=f"{worker}-{i}")
                op_id = uuid.uuid4().hex
                store.create_operation(
                    actor=SYSTEM, id=op_id, kind="deploy", tool_name="shared", log_path="/dev/null"
                )
                step = store.begin_step(op_id, "fetch")
                store.end_step(step, "done")
                store.create_release(tool.id, key="k", builder="b", runtime="r", status="built")
            except Exception as exc:
                print(f"worker {worker}: {type(exc).__name__}: {exc}", file=sys.stderr)
                errors += 1
    finally:
        store.close()
    return errors


if __name__ == "__main__":
    sys.exit(work(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
