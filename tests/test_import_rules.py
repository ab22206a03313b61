"""The house rules of `src/lanyard`, checked on the source (DESIGN.md, Parts).

- the registry and the agent never import each other;
- `core` imports neither service, nor a client, nor the CLI;
- nothing outside `lanyard.cli` imports `lanyard.cli`;
- the CLI never imports a store or a servicer (it goes through clients or use cases);
- no import cycles between modules.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(p): p for p in SRC.rglob("*.py") if "wire" not in p.relative_to(SRC).parts[:2]
    }


MODULES = _modules()


def _imports(name: str, path: Path) -> Iterator[str]:
    """Every lanyard module `name` imports (at any depth, lazy imports included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target.startswith("lanyard") and target != name:
                yield target


GRAPH = {name: set(_imports(name, path)) for name, path in MODULES.items()}


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _violations(src_pkg: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{m} imports {t}"
        for m, targets in GRAPH.items()
        if _in(m, src_pkg)
        for t in targets
        if any(_in(t, f) for f in forbidden)
    )


def test_the_tree_is_read() -> None:
    assert "lanyard.core.screen" in GRAPH
    assert "lanyard.cli.main" in GRAPH
    assert any(_in(t, "lanyard.cli") for t in GRAPH["lanyard.cli.main"])


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("lanyard.registry", ("lanyard.agent", "lanyard.cli")),
        ("lanyard.agent", ("lanyard.registry", "lanyard.cli")),
        ("lanyard.core", ("lanyard.registry", "lanyard.agent", "lanyard.client", "lanyard.cli")),
        ("lanyard.client", ("lanyard.registry", "lanyard.agent", "lanyard.cli")),
        ("lanyard.errors", ("lanyard.registry", "lanyard.agent", "lanyard.client", "lanyard.cli")),
    ],
)
def test_rooms_keep_to_themselves(package: str, forbidden: tuple[str, ...]) -> None:
    assert _violations(package, forbidden) == []


def test_the_cli_never_opens_a_store_or_a_servicer() -> None:
    def private_part(t: str) -> bool:
        leaf = t.rpartition(".")[2]
        return leaf in {"store", "sqlite_store", "submission_store", "outbox", "migrations"} or (
            leaf.endswith("servicer")
        )

    bad = sorted(
        f"{m} imports {t}"
        for m, targets in GRAPH.items()
        if _in(m, "lanyard.cli")
        for t in targets
        if private_part(t)
    )
    assert bad == []


def test_no_import_cycles() -> None:
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(GRAPH.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name)
    assert cycles == []
