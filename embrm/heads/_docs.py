"""Docstring sections the heads share, written once and put in place by :func:`shared_docs`.

A head's docstring names a shared section by a line holding only ``{section}``; the
section's text replaces that line at its indentation. The API pages read the docstrings
of the live classes, so they show the sections in place.
"""

from __future__ import annotations

import textwrap
from typing import TypeVar

T = TypeVar("T")

#: Shared docstring sections by name (numpy style, unindented).
SECTIONS: dict[str, str] = {
    "fit_record": """\
n_features_in_ : int
    Embedding dimension seen in ``fit``.
encoder_id_ : str or None
    Encoder identity given to ``fit``.""",
}


def fill_sections(doc: str, sections: dict[str, str] = SECTIONS) -> str:
    """``doc`` with each line that holds only ``{name}`` of a shared section replaced by
    the section, indented as that line was.

    Raises ``KeyError`` naming a placeholder that is not a shared section.

    Example
    -------
    >>> print(fill_sections("Attributes\\n    ----------\\n    {fit_record}\\n"))
    Attributes
        ----------
        n_features_in_ : int
            Embedding dimension seen in ``fit``.
        encoder_id_ : str or None
            Encoder identity given to ``fit``.
    <BLANKLINE>
    """
    lines = []
    for line in doc.splitlines(keepends=True):
        name = line.strip()
        if name.startswith("{") and name.endswith("}") and name[1:-1].isidentifier():
            indent = line[: len(line) - len(line.lstrip())]
            if name[1:-1] not in sections:
                raise KeyError(f"{name} is not a shared docstring section; known: {sorted(sections)}")
            lines.append(textwrap.indent(sections[name[1:-1]], indent) + "\n")
        else:
            lines.append(line)
    return "".join(lines)


def shared_docs(cls: T) -> T:
    """Class decorator: fill the shared sections of ``cls.__doc__`` (see :func:`fill_sections`).

    Example
    -------
    >>> @shared_docs
    ... class Demo:
    ...     '''Attributes
    ...     ----------
    ...     {fit_record}
    ...     '''
    >>> "encoder_id_ : str or None" in Demo.__doc__
    True
    """
    cls.__doc__ = fill_sections(cls.__doc__ or "")
    return cls
