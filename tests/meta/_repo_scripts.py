"""The repository's scripts the meta tests read, loaded once by path (they are not a package).

``make_results`` is ``scripts/make_results.py``; ``record`` is ``benchmarks/_record.py``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def load_module(path: Path, name: str) -> ModuleType:
    """The Python file at ``path``, imported as module ``name`` (registered in ``sys.modules``,
    where dataclasses look their module up)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


make_results = load_module(ROOT / "scripts" / "make_results.py", "make_results")
record = load_module(ROOT / "benchmarks" / "_record.py", "benchmarks_record")
