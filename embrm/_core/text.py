"""The one check that a text is valid Unicode, shared by every entry point that takes text.

Python strings can hold lone surrogates (code points U+D800 to U+DFFF, left by decoding
with ``errors="surrogateescape"`` or by cutting a UTF-16 pair apart). They cannot be
encoded as UTF-8, so they can be neither hashed into a cache key, nor tokenised, nor
written to a file; some readers silently turn them into other characters. embrm refuses
them where text enters: the readers, the encoder, policy scoring and the pools.
"""

from __future__ import annotations

from collections.abc import Sequence

from embrm.exceptions import DataError


def _first_surrogate(text: str) -> int | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def check_unicode(texts: str | Sequence[str], name: str) -> None:
    """Raise a :class:`~embrm.exceptions.DataError` when a text holds a lone surrogate.

    Parameters
    ----------
    texts : str or sequence of str
        One text, named ``name`` in the message, or texts whose item ``i`` is named
        ``name[i]``. Items that are not strings are skipped (type checks are the caller's).
    name : str
        What the text is, for the message: ``"prompts"``, ``"candidates[2][0]"``.

    Raises
    ------
    DataError
        Naming the text (and its index), the character's position, and what to do.

    Examples
    --------
    >>> check_unicode(["fine", "also fine"], "texts")
    >>> check_unicode(["fine", "bad \\ud800"], "texts")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    embrm.exceptions.DataError: texts[1] holds a lone surrogate ('\\ud800' at character 4), ...
    """
    if isinstance(texts, str):
        at, where = _first_surrogate(texts), name
        if at is None:
            return
        text = texts
    else:
        strings = [t for t in texts if isinstance(t, str)]
        if _first_surrogate("".join(strings)) is None:  # one pass over everything: the usual case
            return
        i = next(i for i, t in enumerate(texts) if isinstance(t, str) and _first_surrogate(t) is not None)
        text, at, where = texts[i], _first_surrogate(texts[i]), f"{name}[{i}]"
    raise DataError(
        f"{where} holds a lone surrogate ({text[at]!r} at character {at}), which is not valid "
        "Unicode: it cannot be embedded, hashed or written. Fix or drop that text (it usually "
        "comes from bytes decoded with errors='surrogateescape' or a UTF-16 pair cut apart; "
        "decode the source as UTF-8, or replace them with "
        "text.encode('utf-8', 'replace').decode('utf-8'))."
    )
