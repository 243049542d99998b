"""docs/architecture.md states the real structure: its layer table places every module of embrm
and every import between embrm's packages goes to a lower layer, its import diagram has
exactly the real edges between packages, and every ``embrm.x.Name`` it cites exists."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "architecture.md"
PACKAGE = ROOT / "embrm"
FOUNDATION = 0
ROOT_NAMES_ANY_LAYER_MAY_IMPORT = {"__version__"}
# the command line imports whatever it runs; the diagram leaves its edges (and the root's) out
NOT_IN_DIAGRAM = {"embrm.cli", "embrm"}


def unit_of(module: str) -> str:
    """The unit a dotted module belongs to: ``embrm`` (the root), ``embrm.heads`` for any module
    of that package, ``embrm.cli`` for a top-level module."""
    parts = module.split(".")
    return ".".join(parts[:2])


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> list[tuple[str, set[str]]]:
    """Every embrm module ``path`` imports (function-level imports included), each with the
    names taken from it (empty for ``import x``)."""
    name = module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, set()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = {alias.name for alias in node.names}
            if target == "embrm":  # `from embrm import heads` imports the package heads
                subpackages = {n for n in names if (PACKAGE / n).is_dir() or (PACKAGE / f"{n}.py").exists()}
                found += [(f"embrm.{n}", set()) for n in subpackages]
                names -= subpackages
                if not names:
                    continue
            found.append((target, names))
    return [(t, names) for t, names in found if t == "embrm" or t.startswith("embrm.")]


def real_edges() -> dict[tuple[str, str], list[str]]:
    """Unit-level import edges, each with the modules that make it."""
    edges: dict[tuple[str, str], list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = unit_of(module_name(path))
        for target, names in imports_of(path):
            target_unit = unit_of(target)
            if target_unit == source:
                continue
            if target_unit == "embrm" and names and names <= ROOT_NAMES_ANY_LAYER_MAY_IMPORT:
                continue
            edges.setdefault((source, target_unit), []).append(str(path.relative_to(ROOT)))
    return edges


def all_units() -> set[str]:
    return {unit_of(module_name(p)) for p in PACKAGE.rglob("*.py")}


def section(title: str) -> str:
    text = PAGE.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else len(text)]


def layers() -> dict[str, int]:
    """The layer of each module, from the page's layer table: ``| 2 | heads | `embrm.heads`, ... |``."""
    layer = {}
    for row in re.findall(r"^\| (\d+) \| [^|]+ \| ([^|]+) \|", section("Layers"), flags=re.M):
        for module in re.findall(r"`(embrm[\w.]*)`", row[1]):
            assert module not in layer, f"{module} is in two layers of docs/architecture.md"
            layer[module] = int(row[0])
    return layer


def diagram_edges() -> set[tuple[str, str]]:
    """The edges of the import diagram, ``a --> b``, as module names."""
    block = re.search(r"```mermaid\n(.*?)```", section("Layers"), flags=re.S)
    assert block, "docs/architecture.md: no mermaid import diagram under '## Layers'"
    nodes = dict(re.findall(r'(\w+)\["(embrm[\w.]*)"\]', block.group(1)))
    edges = re.findall(r"^\s*(\w+) --> (\w+)\s*$", block.group(1), flags=re.M)
    unknown = {n for edge in edges for n in edge} - set(nodes)
    assert not unknown, f"diagram edges name undeclared nodes: {sorted(unknown)}"
    return {(nodes[a], nodes[b]) for a, b in edges}


def test_the_page_reads_what_the_test_needs():
    assert len(layers()) >= 14 and set(layers().values()) == set(range(6))
    assert len(diagram_edges()) >= 15
    assert ("embrm.heads", "embrm.evaluate") in real_edges()


def test_every_module_is_in_one_layer():
    missing = all_units() - set(layers())
    assert not missing, f"place these in docs/architecture.md's layer table: {sorted(missing)}"
    stale = set(layers()) - all_units()
    assert not stale, f"docs/architecture.md's layer table names modules that do not exist: {sorted(stale)}"


def test_every_import_goes_to_a_lower_layer():
    layer = layers()
    wrong = [
        f"{a} (layer {layer[a]}) imports {b} (layer {layer[b]}) in {', '.join(sorted(set(where)))}"
        for (a, b), where in sorted(real_edges().items())
        if not (layer[b] < layer[a] or layer[a] == layer[b] == FOUNDATION)
    ]
    assert not wrong, "imports against docs/architecture.md's layers:\n" + "\n".join(wrong)


def test_the_import_diagram_has_exactly_the_real_edges():
    layer = layers()
    real = {
        (a, b)
        for a, b in real_edges()
        if a not in NOT_IN_DIAGRAM and layer[a] != FOUNDATION and layer[b] != FOUNDATION
    }
    drawn = diagram_edges()
    assert not real - drawn, f"draw these imports in docs/architecture.md: {sorted(real - drawn)}"
    assert not drawn - real, f"docs/architecture.md draws imports that are not made: {sorted(drawn - real)}"


def test_imports_are_parsed_with_their_package():
    # relative imports resolve against the importing module's package
    found = dict(imports_of(PACKAGE / "cli" / "workflow.py"))
    assert "embrm.model_selection" in found and "embrm.data" in found
    assert ("embrm", {"__version__"}) in imports_of(PACKAGE / "cli" / "__init__.py")


@pytest.mark.parametrize("name", sorted(set(re.findall(r"`(embrm\.[\w.]+)`", PAGE.read_text()))), ids=str)
def test_every_cited_name_exists(name):
    module, _, attribute = name.rpartition(".")
    try:
        importlib.import_module(name)
    except ModuleNotFoundError:
        assert hasattr(importlib.import_module(module), attribute), f"docs/architecture.md cites {name}"
