"""Griffe extension for the API pages: fill the shared docstring sections of embrm's heads.

The heads' docstrings name a shared section by a line holding only ``{section}``
(:mod:`embrm.heads._docs`); at run time a class decorator fills it. Griffe reads the
source, so this extension fills the same sections in what it reads.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import griffe

# Loaded from this checkout's file (the installed embrm may be another checkout's).
_spec = importlib.util.spec_from_file_location(
    "embrm_heads_docs", Path(__file__).resolve().parents[1] / "embrm" / "heads" / "_docs.py"
)
_docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_docs)
fill_sections = _docs.fill_sections


class SharedSections(griffe.Extension):
    """Fill ``{section}`` lines in class docstrings, as ``embrm.heads._docs.shared_docs`` does."""

    def on_class_instance(self, *, cls: griffe.Class, **kwargs: Any) -> None:
        if cls.docstring is not None and "{" in cls.docstring.value:
            cls.docstring.value = fill_sections(cls.docstring.value)
