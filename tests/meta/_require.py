"""Optional test dependencies: skipped on a laptop without them, required under CI."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def require(module: str) -> ModuleType:
    """Import ``module``; without it, skip, or fail when ``CI`` is true (the dev extra and
    scripts/setup.sh install it, so CI must have it)."""
    if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}:
        return importlib.import_module(module)
    return pytest.importorskip(module)
