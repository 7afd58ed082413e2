"""The layout rules of docs/architecture.md, checked: no import circle anywhere in the
non-test code (counting imports under TYPE_CHECKING and inside functions, which hide circles
rather than remove them), no module over the size limit, and the one-way direction
hosts -> core <- plugins."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "machete_core": ROOT / "machete_core",
    "machete_plugins": ROOT / "machete_plugins",
    "machete_cli": ROOT / "hosts" / "machete_cli",
    "machete_web": ROOT / "hosts" / "machete_web",
}
#: Lines a module may have; migrations are generated history and exempt.
MAX_LINES = 600


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            rel = path.relative_to(folder).with_suffix("")
            parts = [package, *rel.parts]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _imports(path: Path, module: str, known: dict[str, Path]) -> Iterator[str]:
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for name in names:
            # The most specific module the name denotes (a module, or a name in one).
            while name and name not in known:
                name = name.rpartition(".")[0]
            # A module always imports its parent packages first: not an edge that counts.
            if name and name != module and not module.startswith(name + "."):
                yield name


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {mod: set(_imports(path, mod, known)) for mod, path in known.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles() -> None:
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_dependencies_point_one_way() -> None:
    graph = _graph()
    for module, targets in graph.items():
        if module.startswith("machete_core"):
            outside = {t for t in targets if not t.startswith("machete_core")}
            assert not outside, f"{module} imports {outside}: the core imports no host or plugin"
        if module.startswith("machete_plugins"):
            hosts = {t for t in targets if t.startswith(("machete_cli", "machete_web"))}
            assert not hosts, f"{module} imports {hosts}"


def test_no_module_is_over_the_size_limit() -> None:
    big = {
        str(path.relative_to(ROOT)): n
        for path in _modules().values()
        if "migrations" not in path.parts
        and (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert big == {}
