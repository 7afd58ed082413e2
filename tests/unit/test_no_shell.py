"""Static guard from threats.md: no shell anywhere in the shipped code."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ["machete_core", "machete_plugins", "hosts"]


def test_no_shell_true_and_no_os_system() -> None:
    offenders = []
    files = [p for d in SHIPPED for p in (ROOT / d).rglob("*.py")]
    assert len(files) > 20
    for path in files:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            for kw in node.keywords:
                if kw.arg == "shell" and not (
                    isinstance(kw.value, ast.Constant) and kw.value.value is False
                ):
                    offenders.append(f"{path}:{node.lineno} shell=")
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr in ("system", "popen")
                and isinstance(func.value, ast.Name)
                and func.value.id == "os"
            ):
                offenders.append(f"{path}:{node.lineno} os.{func.attr}")
    assert offenders == []
