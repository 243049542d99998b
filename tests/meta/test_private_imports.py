"""No code reaches into another package's private module.

A package's private modules (``embrm/<package>/_<name>.py``) are its own: the rest of the
library, the experiments, the benchmarks and the scripts use what the package's
``__init__`` exports. The foundation modules at the top of ``embrm`` (files, validation,
groups, text, compat) are shared by every package and are not a package's privates.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = sorted(p.name for p in (REPO / "embrm").iterdir() if (p / "__init__.py").is_file())
SCANNED = ("embrm", "experiments", "benchmarks", "scripts")


def owner(path: Path) -> str | None:
    """The embrm package a file belongs to (None outside embrm's packages)."""
    parts = path.relative_to(REPO).parts
    if parts[0] == "embrm" and len(parts) > 2:
        return parts[1]
    return None


def private_targets(tree: ast.AST) -> list[tuple[int, str]]:
    """``(line, module)`` of every import of a package's private module, function-level
    imports included; ``from embrm.pkg import _mod`` counts too."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [(a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [(node.module, [a.name for a in node.names])]
        else:
            continue
        for module, names in modules:
            parts = module.split(".")
            if parts[0] != "embrm" or len(parts) < 2 or parts[1] not in PACKAGES:
                continue
            if len(parts) > 2 and parts[2].startswith("_"):
                found.append((node.lineno, module))
            elif len(parts) == 2 and names:
                found += [(node.lineno, f"{module}.{n}") for n in names if n.startswith("_")]
    return found


def violations(path: Path) -> list[str]:
    here = owner(path)
    out = []
    for line, module in private_targets(ast.parse(path.read_text(), str(path))):
        if module.split(".")[1] != here:
            out.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    return out


def test_the_scan_finds_a_private_import():
    tree = ast.parse(
        "from embrm.evaluate._metrics import pair_outcomes\n"
        "def f():\n    import embrm.embed._cache\n"
        "from embrm.heads import _base\n"
        "from embrm.evaluate import pair_outcomes\n"
        "from embrm._files import atomic_write\n"
    )
    assert sorted(private_targets(tree)) == [
        (1, "embrm.evaluate._metrics"),
        (3, "embrm.embed._cache"),
        (4, "embrm.heads._base"),
    ]


def test_a_package_may_import_its_own_private_modules():
    path = REPO / "embrm" / "heads" / "_bt.py"
    assert owner(path) == "heads"
    assert owner(REPO / "experiments" / "_common.py") is None


@pytest.mark.parametrize("folder", SCANNED)
def test_no_import_reaches_into_another_packages_private_module(folder):
    wrong = [v for path in sorted((REPO / folder).rglob("*.py")) for v in violations(path)]
    assert not wrong, (
        "imports of another package's private module (export the name from the package's "
        "__init__ and import it from there):\n" + "\n".join(wrong)
    )
