"""The heads' shared docstring sections: filled at run time and on the API pages."""

from __future__ import annotations

from pathlib import Path

import griffe
import pytest

from embrm.heads import HEADS
from embrm.heads._docs import SECTIONS, fill_sections


@pytest.mark.parametrize("head", list(HEADS.values()), ids=list(HEADS))
def test_every_head_documents_its_fit_record_once(head):
    assert "{fit_record}" not in head.__doc__
    assert head.__doc__.count("    n_features_in_ : int\n        Embedding dimension seen in ``fit``.\n") == 1
    assert (
        head.__doc__.count("    encoder_id_ : str or None\n        Encoder identity given to ``fit``.\n") == 1
    )


def test_a_section_takes_the_indentation_of_its_line_and_nothing_else_changes():
    doc = "Head.\n\n  Attributes\n  ----------\n  {fit_record}\n  {not a name}\n"
    filled = fill_sections(doc)
    expected = "".join("  " + line + "\n" for line in SECTIONS["fit_record"].splitlines())
    assert filled == "Head.\n\n  Attributes\n  ----------\n" + expected + "  {not a name}\n"
    assert fill_sections("x {fit_record}\n") == "x {fit_record}\n"  # only a line of its own
    with pytest.raises(
        KeyError, match=r"\{fit_records\} is not a shared docstring section; known: \['fit_record'\]"
    ):
        fill_sections("    {fit_records}\n")


def test_the_api_pages_griffe_extension_fills_the_sections():
    root = Path(__file__).resolve().parents[2]
    extensions = griffe.load_extensions(str(root / "scripts" / "griffe_shared_docs.py") + ":SharedSections")
    heads = griffe.load("embrm.heads", search_paths=[str(root)], extensions=extensions)
    doc = heads["BTLinear"].docstring.value
    assert "{fit_record}" not in doc and "encoder_id_ : str or None" in doc
