"""The layers, read from the source: no import cycle, and no module importing a folder above.

Imports inside functions and under TYPE_CHECKING count: a cycle there still ties two
modules together, and a late import is where cycles hide.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "emb_cli"
TESTS = Path(__file__).resolve().parent
# Which top-level folders of emb_cli each folder may import (besides itself and errors).
ALLOWED_BELOW = {
    "sources": set(),
    "analysis": {"sources"},
    "render": {"analysis", "sources"},
    "commands": {"analysis", "render", "sources", "options"},
}


def module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def import_graph(root: Path) -> dict[str, set[str]]:
    """module -> the emb_cli modules it imports anywhere in its body."""
    modules = {module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                # `from pkg import mod` imports the module pkg.mod when there is one
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                    for a in node.names
                ]
            for t in targets:
                while t and t not in modules:
                    t = t.rpartition(".")[0]
                if t and t != name:
                    deps.add(t)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for mod, deps in graph.items():
        parts = mod.split(".")
        if len(parts) < 3 or parts[1] not in ALLOWED_BELOW:
            continue
        folder = parts[1]
        for dep in deps:
            dparts = dep.split(".")
            target = dparts[1] if len(dparts) > 1 else ""
            if target in (folder, "errors", "progress", "") or target in ALLOWED_BELOW[folder]:
                continue
            if target == "__init__" or dep == "emb_cli":
                continue
            bad.append(f"{mod} imports {dep}")
    return sorted(bad)


def imported_test_modules(graph: dict[str, set[str]]) -> list[str]:
    """Imports of a test module or a conftest: only helpers and models are shared by import."""
    return sorted(
        f"{mod} imports {dep}"
        for mod, deps in graph.items()
        for dep in deps
        if dep.rpartition(".")[2].startswith("test_") or dep.rpartition(".")[2] == "conftest"
    )


def test_no_import_cycle_in_emb_cli() -> None:
    assert cycles(import_graph(PACKAGE)) == []


def test_no_module_imports_a_folder_above_it() -> None:
    assert layer_violations(import_graph(PACKAGE)) == []


def test_sources_base_imports_nothing_above_errors() -> None:
    assert import_graph(PACKAGE)["emb_cli.sources.base"] <= {"emb_cli.errors"}


def test_no_test_module_imports_another() -> None:
    """Shared fixtures go in conftest.py, shared code in tests/helpers/. An imported fixture
    is a second copy (a session fixture is built once per importing module) and an imported
    autouse fixture silently applies to the importer."""
    assert imported_test_modules(import_graph(TESTS)) == []


def _tree(tmp_path: Path, files: dict[str, str], package: str = "emb_cli") -> Path:
    root = tmp_path / package
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    for d in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        (d / "__init__.py").touch()
    return root


@pytest.mark.parametrize(
    "files",
    [
        # a top-level cycle
        {
            "sources/a.py": "from emb_cli.sources import b\n",
            "sources/b.py": "import emb_cli.sources.a\n",
        },
        # closed by an import inside a function
        {
            "sources/a.py": "from emb_cli.sources.b import x\n",
            "sources/b.py": "def f():\n    from emb_cli.sources.a import y\n",
        },
        # closed under TYPE_CHECKING, through a third module, with a relative import
        {
            "sources/a.py": "from .b import x\n",
            "sources/b.py": "from emb_cli.sources.c import z\n",
            "sources/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from emb_cli.sources.a import A\n",
        },
    ],
)
def test_the_cycle_test_finds_a_reintroduced_cycle(tmp_path: Path, files: dict[str, str]) -> None:
    assert cycles(import_graph(_tree(tmp_path, files))) != []


def test_the_layer_test_finds_an_upward_import(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "sources/a.py": "def f():\n    from emb_cli.analysis.x import r\n",
            "analysis/x.py": "from emb_cli.render.console import out\n",
            "render/console.py": "import emb_cli.sources.a\n",
        },
    )
    assert layer_violations(import_graph(root)) == [
        "emb_cli.analysis.x imports emb_cli.render.console",
        "emb_cli.sources.a imports emb_cli.analysis.x",
    ]


def test_the_test_import_test_finds_an_imported_test_module(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "test_a.py": "from tests.sources.test_b import server\n",
            "sources/test_b.py": "def f():\n    from .. import conftest\n",
            "sources/test_c.py": "from tests.sources import test_b\n",
            "conftest.py": "from tests.helpers.server import Server\n",
            "helpers/server.py": "from tests.models import tiny\n",
            "models.py": "",
        },
        package="tests",
    )
    assert imported_test_modules(import_graph(root)) == [
        "tests.sources.test_b imports tests.conftest",
        "tests.sources.test_c imports tests.sources.test_b",
        "tests.test_a imports tests.sources.test_b",
    ]
