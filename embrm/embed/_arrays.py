"""Embedding arrays that know which encoder made them.

An :class:`EmbeddingArray` is a numpy array (a thin ``ndarray`` subclass) with one extra
attribute, ``encoder_id``: the identity of the representation its rows live in
(``Encoder.identity``). Every ``Encoder`` method that returns vectors returns one, so a head
fitted on them records the identity without being told (``head.fit(X_win, X_lose)``).

What keeps the identity, and what drops it:

- row selection and views keep it: ``X[idx]``, ``X[mask]``, ``X[:10]``, ``X.take(idx, axis=0)``,
  ``X.copy()``, ``X.astype(np.float32)`` and arithmetic on one representation
  (``X * 2``, ``X_win - X_lose``);
- stacking rows of one representation keeps it (``np.vstack([X_a, X_b])``,
  ``np.concatenate([X_a, X_b])`` with equal ids);
- anything that mixes representations drops it to ``None``: joining columns
  (``np.hstack``, ``np.column_stack``, ``np.concatenate(..., axis=1)``), stacking or
  combining arrays of different ids, or an array without one;
- converting to a plain array drops it: ``np.asarray(X)``, ``np.array(X)`` (pass
  ``subok=True`` to keep it), ``X.tolist()``, pickling keeps it.

Example
-------
>>> X = EmbeddingArray(np.eye(3, dtype=np.float32), "minilm")
>>> X[[0, 2]].encoder_id
'minilm'
>>> np.hstack([X, X]).encoder_id is None
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from embrm._core.validation import encoder_id_of

#: Functions that join arrays: the identity survives only joining rows of one identity.
_JOINS = {np.concatenate, np.vstack, np.stack, np.hstack, np.column_stack, np.dstack, np.block, np.append}


def _ids(values: Any) -> set[str | None]:
    """The identities of every array in ``values`` (a sequence or a nested one)."""
    if isinstance(values, np.ndarray) or not isinstance(values, list | tuple):
        return {encoder_id_of(values)} if isinstance(values, np.ndarray) else set()
    found: set[str | None] = set()
    for v in values:
        found |= _ids(v)
    return found


class EmbeddingArray(np.ndarray):
    """A numpy array of embeddings carrying the identity of the encoder that produced it.

    Build one with ``EmbeddingArray(array, encoder_id)``: ``array`` the embeddings (shape
    (n, dim)), ``encoder_id`` the ``Encoder.identity`` of their representation, or None.

    Attributes
    ----------
    encoder_id : str or None
        Kept by row selection, copies, casts and arithmetic; dropped by column joins and by
        anything mixing identities (see the module's docstring).
    """

    encoder_id: str | None

    def __new__(cls, array: Any, encoder_id: str | None) -> EmbeddingArray:
        obj = np.asarray(array).view(cls)
        obj.encoder_id = encoder_id
        return obj

    def __array_finalize__(self, obj: Any) -> None:
        self.encoder_id = getattr(obj, "encoder_id", None)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        ids = {encoder_id_of(x) for x in inputs if isinstance(x, EmbeddingArray)}
        plain = [x.view(np.ndarray) if isinstance(x, EmbeddingArray) else x for x in inputs]
        if "out" in kwargs:
            kwargs["out"] = tuple(
                o.view(np.ndarray) if isinstance(o, EmbeddingArray) else o for o in kwargs["out"]
            )
        result = getattr(ufunc, method)(*plain, **kwargs)
        keep = ids.pop() if len(ids) == 1 else None
        return _wrap(result, keep)

    def __array_function__(self, func, types, args, kwargs):
        result = super().__array_function__(func, types, args, kwargs)
        if func not in _JOINS:
            return result
        if func is np.append:
            arrays = [
                args[0] if args else kwargs.get("arr"),
                args[1] if len(args) > 1 else kwargs.get("values"),
            ]
            axis = kwargs.get("axis", args[2] if len(args) > 2 else None)
        else:
            arrays = args[0] if args else kwargs.get("arrays", kwargs.get("tup"))
            if func is np.concatenate:
                axis = kwargs.get("axis", args[1] if len(args) > 1 else 0)
            else:
                axis = 0 if func is np.vstack else "columns or a new axis"
        ids = _ids(arrays)
        return _wrap(result, ids.pop() if axis == 0 and len(ids) == 1 else None)

    def __reduce__(self):
        constructor, arguments, state = super().__reduce__()
        return constructor, arguments, (state, self.encoder_id)

    def __setstate__(self, state):
        array_state, self.encoder_id = state
        super().__setstate__(array_state)

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]}, encoder_id={self.encoder_id!r})"


def _wrap(result: Any, encoder_id: str | None) -> Any:
    if isinstance(result, tuple):
        return tuple(_wrap(r, encoder_id) for r in result)
    if not isinstance(result, np.ndarray) or result.ndim == 0:
        return result
    out = result.view(EmbeddingArray)
    out.encoder_id = encoder_id
    return out
