"""The backend protocol: what a backbone must provide so the :class:`~embrm.Encoder` can cache it.

A backend turns a batch of items (texts, or (prompt, response) pairs) into float32 vectors,
and says which cache keys those items have, what identity its vector cache and its
representation carry, whether the backbone's window cut a pair, and what it is (as JSON-able
data). Everything about the cache (reading cached vectors, computing only the missing ones
in length-sorted batches, writing them) is the Encoder's, and where the missing ones are
computed is its engine's (:mod:`embrm.embed._engines`).

A backend lives in its own module and resolves its own options from the Encoder's
arguments (:class:`BackendOptions`); :mod:`embrm.embed._registry` lists the backends, one
line each.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from embrm.embed._cache import WRITE_ERRNOS, cache_write_error
from embrm.embed._onnx import is_complete_export

#: Cache-key text format of a raw text (``Encoder.encode``).
RAW_TEXT_FORMAT = "raw"


@dataclass(frozen=True)
class BackendOptions:
    """The Encoder's arguments a backend resolves (each backend checks the ones it takes).

    Attributes
    ----------
    model : str, path or None
        The backbone as the user named it (a named representation already expanded).
    cache_dir : Path
        The cache root (exported or distilled models are found or written from here).
    device : {"cpu", "cuda"} or None
    num_threads : int or None
    view, layer : str or None, int or None
        As given to the Encoder; None lets the backend pick its default view.
    quantize : bool
    batch_size : int or None
        None lets the backend pick its default.

    Example
    -------
    >>> from pathlib import Path
    >>> BackendOptions(model=None, cache_dir=Path("/tmp/cache")).view is None
    True
    """

    model: object
    cache_dir: Path
    device: str | None = None
    num_threads: int | None = None
    view: str | None = None
    layer: int | None = None
    quantize: bool = False
    batch_size: int | None = None

    @property
    def variant(self) -> str:
        """``"int8"`` when quantised, else ``"fp32"`` (part of every cache identity)."""
        return "int8" if self.quantize else "fp32"


@dataclass
class Plan:
    """What a batch of rows needs from the cache, and how its vectors become the rows' vectors.

    Attributes
    ----------
    keys : list of bytes
        Cache key of each stored item (one row may need several: windows, split texts).
    items_of : callable
        ``items_of(indices)``: the items (texts or pairs) of those positions in ``keys``.
    size : callable
        Length of an item, to sort batches by (so they pad little).
    combine : callable
        ``combine(stored)``: the rows' vectors from the stored vectors of ``keys`` (in order).
    rows_found : callable
        ``rows_found(found)``: which rows have every key they need, from which keys are
        cached (default: one key per row).

    Example
    -------
    >>> plan = Plan([b"k" * 16], lambda rows: ["a text"], len)
    >>> plan.combine(np.ones((1, 2), dtype=np.float32)).tolist()
    [[1.0, 1.0]]
    """

    keys: list[bytes]
    items_of: Callable[[list[int]], list]
    size: Callable[[object], int]
    combine: Callable[[np.ndarray], np.ndarray] = field(default=lambda stored: stored)
    rows_found: Callable[[np.ndarray], np.ndarray] = field(default=lambda found: found)


@runtime_checkable
class Backend(Protocol):
    """A backbone the Encoder caches: identity, keys, inference, truncation, description.

    A backend class also has a ``name`` and a static ``accepts(model) -> bool`` (which model
    names it claims; :mod:`embrm.embed._registry` asks each in turn) and is built from
    :class:`BackendOptions`.

    Attributes
    ----------
    name : str
        ``"sentence"``, ``"causal-lm"``, ``"static"``, ...
    cache_identity : str
        Identity of the vector cache (backbone, weights, variant): views of one backbone
        share it.
    identity : str
        Identity of the representation (cache identity plus view); saved heads record it.
    view : str
    batch_size : int
        Items per inference call.
    model_dir : Path
        Where the exported or distilled model lives.
    n_inference_calls : int
    """

    name: str
    cache_identity: str
    identity: str
    view: str
    batch_size: int
    model_dir: Path
    n_inference_calls: int

    def plan(self, prompts: list[str], responses: list[str]) -> Plan:
        """The cache keys of (prompt, response) rows under this view, and how to combine them."""

    def text_plan(self, texts: list[str]) -> Plan:
        """The cache keys of raw texts (a backend reading pairs only raises ValueError)."""

    def infer(self, items: list) -> np.ndarray:
        """Vectors of a batch of items, float32, one row each (what the cache stores)."""

    def truncated(self, prompts: list[str], responses: list[str]) -> list[bool]:
        """Whether the backbone's window cut each row."""

    def dim(self, cached: int | None = None) -> int:
        """Dimension of the vectors :meth:`plan`'s ``combine`` returns (``cached``: the
        width the cache stores, when known, so no inference is needed)."""

    def describe(self) -> dict:
        """What the backend is, as JSON-able data: model, paths, view, text format."""


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), in place where the dtype allows.

    Example
    -------
    >>> l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0]])).tolist()
    [[0.6, 0.8], [0.0, 0.0]]
    """
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return vectors


@contextmanager
def exporting(model_dir: Path) -> Iterator[None]:
    """Turn a failed write of an exported model into a CacheWriteError naming the folder.

    Checked before the export starts (a scratch file in the folder), and again for any write
    error during it.

    Example
    -------
    >>> import tempfile
    >>> with exporting(Path(tempfile.mkdtemp()) / "model"):
    ...     pass
    """
    folder = model_dir.parent
    try:
        if not is_complete_export(model_dir):
            folder.mkdir(parents=True, exist_ok=True)
            tempfile.TemporaryFile(dir=folder).close()
        yield
    except OSError as exc:
        if exc.errno not in WRITE_ERRNOS:
            raise
        raise cache_write_error(folder, exc) from exc


def pick(items: Sequence, rows: list[int]) -> list:
    """``[items[i] for i in rows]``.

    Example
    -------
    >>> pick(["a", "b", "c"], [2, 0])
    ['c', 'a']
    """
    return [items[i] for i in rows]
