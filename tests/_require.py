"""Optional test dependencies: skipped on a laptop without them, required under CI.

``scripts/setup.sh`` installs every optional dependency the tests use (the ``export``,
``dev``, ``dist``, ``policy``, ``serve`` and ``annotate`` extras, the SmolLM2 GGUF package and
Debian's ``chromium`` for the labelling page's browser tests), so under CI (``CI``
set to a true value; ``.ci/run`` sets it) a missing one is a broken install: :func:`require`
raises the ImportError instead of skipping. ``tests/conftest.py`` also turns any other skip
under CI into a failure unless its reason is on that file's allow-list.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def under_ci() -> bool:
    """Whether ``CI`` is set to a true value (``1``, ``true``, ``yes``), as CI services do."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def require(module: str, reason: str | None = None) -> ModuleType:
    """Import ``module``; without it, skip (with ``reason``), or under CI fail with the
    ImportError (the dev extra and scripts/setup.sh install it, so CI must have it).

    Works at module level, like ``pytest.importorskip``.
    """
    if under_ci():
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=reason)
