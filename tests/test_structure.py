"""The package's shape: small modules, no import cycles, public names across layers.

Issue 13's conventions, checked on the source itself (no import needed):

- no module over 800 lines;
- no import cycle between the modules of ``napari_amnesia`` — imports inside
  functions included, since a lazy import back is still a cycle of design;
- the napari side, the CLI and the docs use the core's public modules only (no
  ``core._name``);
- the core never imports napari, Qt or magicgui (see also test_import_purity).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "napari_amnesia"
MAX_LINES = 800


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(SOURCE.rglob("*.py")):
        parts = path.relative_to(SOURCE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Modules of the package that ``name`` imports, anywhere in its code."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            # "from .x import y": y may be a module of its own
            targets = [f"{stem}.{alias.name}" if f"{stem}.{alias.name}" in MODULES else stem
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name and target.startswith("napari_amnesia"):
                found.add(target)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _is_package_init(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def test_no_module_is_longer_than_800_lines():
    long = {str(p.relative_to(ROOT)): n for p in MODULES.values()
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_no_import_cycles():
    # A package's __init__ re-exporting its own modules, and those modules importing
    # each other through it, is the usual shape of a package, not a cycle of design:
    # edges from a module to its own package's __init__ are left out.
    graph = {v: {w for w in ws if not (_is_package_init(w) and v.startswith(w + "."))}
             for v, ws in GRAPH.items()}
    cycles = _cycles(graph)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


PRIVATE = re.compile(r"napari_amnesia\.core\.(_\w+)|from \.+core\.(_\w+)|from \.\.\.core\.(_\w+)")


@pytest.mark.parametrize("folder", ["napari", "cli", "docs", "README.md", "scripts"])
def test_outside_the_core_only_public_core_modules_are_used(folder):
    where = SOURCE / folder if (SOURCE / folder).exists() else ROOT / folder
    files = [where] if where.is_file() else [p for p in where.rglob("*")
                                             if p.suffix in {".py", ".md", ".sh"}]
    bad = {}
    for path in files:
        for match in PRIVATE.finditer(path.read_text()):
            bad.setdefault(str(path.relative_to(ROOT)), []).append(match.group(0))
    assert not bad, f"private core modules used: {bad}"


def test_the_core_imports_no_gui():
    gui = re.compile(r"^\s*(?:from|import)\s+(napari|qtpy|PyQt\d|magicgui)\b", re.M)
    bad = [str(p.relative_to(ROOT)) for name, p in MODULES.items()
           if name.startswith("napari_amnesia.core") and gui.search(p.read_text())]
    assert not bad
