"""The package layering: the core (bench/) never imports the jobs (tasks/), and no import cycle anywhere in it.

Every import counts, also one inside a function or under ``TYPE_CHECKING``: a cycle hidden that
way is still two modules that cannot be understood (or changed) one without the other.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _module(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, package: str, modules: set[str]) -> set[str]:
    """Modules of ``package`` that the file at ``path`` imports: ``from a import b`` is the submodule
    ``a.b`` when there is one, else the module ``a``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
    return {name for name in found if name == package or name.startswith(package + ".")}


def _modules(package: str) -> dict[str, Path]:
    return {_module(p): p for p in (REPO / package).rglob("*.py")}


def test_the_core_never_imports_the_jobs():
    tasks = set(_modules("tasks"))
    offenders = {name: sorted(_imports(path, "tasks", tasks)) for name, path in _modules("bench").items()}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_import_cycle_in_the_core():
    modules = _modules("bench")
    graph = {name: _imports(path, "bench", set(modules)) & set(modules) - {name} for name, path in modules.items()}
    index, low, on_stack, stack, cycles, counter = {}, {}, set(), [], [], [0]

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert cycles == []
