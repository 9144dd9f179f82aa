"""The shape of the code: imports point one way, no module reaches into another's private names."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "matcher"


def _modules() -> dict[str, Path]:
    out = {}
    for f in PACKAGE.rglob("*.py"):
        parts = f.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = f
    return out


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module imported, names imported from it) for every matcher import, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    pkg = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                base = pkg[: len(pkg) - node.level + 1] if parts[-1] == "__init__" else pkg[: len(pkg) - node.level + 1]
                mod = ".".join([*base, *([mod] if mod else [])])
            if mod.startswith("matcher"):
                out.append((mod, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name.startswith("matcher")]
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        for mod, names in _imports(path):
            targets = [f"{mod}.{n}" if f"{mod}.{n}" in mods else mod for n in names] or [mod]
            graph[name] |= {t for t in targets if t in mods and t != name}
    return graph


def test_the_import_graph_has_no_cycle():
    graph = _graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            # a package's __init__ re-exporting its modules is not a cycle of jobs
            if nxt == node.rsplit(".", 1)[0] and node.startswith(nxt + "."):
                continue
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [n])
    assert cycles == []


@pytest.mark.parametrize("edge", ["matcher.cli", "matcher.web"])
def test_the_library_never_imports_the_cli_or_the_web_app(edge):
    offenders = [name for name, targets in _graph().items()
                 if not (name == edge or name.startswith(edge + "."))
                 and any(t == edge or t.startswith(edge + ".") for t in targets)]
    assert set(offenders) <= {"matcher.cli", "matcher.__main__"}, offenders  # the CLI may start the web app


def test_no_module_uses_another_modules_private_names():
    mods = _modules()
    offenders = []
    for name, path in mods.items():
        for mod, names in _imports(path):
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private and mod != name:
                offenders.append((name, mod, private))
    assert offenders == []


def test_no_module_is_much_over_600_lines():
    long = {name: n for name, path in _modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > 650}
    assert long == {}, long
