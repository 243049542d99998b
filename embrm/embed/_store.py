"""The model store: exported and distilled models, one folder per model identity, shared by
every vector cache on the machine.

A model (an ONNX export, a causal LM's export, the distilled static model) depends only on
its identity, never on which vector cache it serves, so it is made once per machine: a new
``cache_dir`` starts embedding at once instead of exporting or distilling again. Where a model
lives, in order:

1. ``<cache_dir>/models/<identity>`` when that folder exists (a cache copied with its models,
   or one made before the store);
2. ``<store>/<identity>``, where the store is ``$EMBRM_MODEL_DIR``, else the ``models`` folder
   of the default cache (``$EMBRM_CACHE_DIR``, ``$XDG_CACHE_HOME/embrm`` or ``~/.cache/embrm``),
   when the model is there or the store can be written;
3. ``<cache_dir>/models/<identity>`` otherwise (a read-only store that lacks the model).

A read-only store that holds the model is used as it is: loading only reads.
"""

from __future__ import annotations

import os
from pathlib import Path

from embrm.embed._cache import default_cache_dir

__all__ = ["locate_model", "model_folders", "model_store"]


def model_store() -> Path:
    """The machine's model store: ``$EMBRM_MODEL_DIR``, else ``<default cache>/models``.

    Example
    -------
    >>> import os
    >>> os.environ["EMBRM_MODEL_DIR"] = "/tmp/embrm-models"
    >>> str(model_store())
    '/tmp/embrm-models'
    >>> del os.environ["EMBRM_MODEL_DIR"]
    """
    if os.environ.get("EMBRM_MODEL_DIR"):
        return Path(os.environ["EMBRM_MODEL_DIR"]).expanduser()
    return default_cache_dir() / "models"


def _can_create(folder: Path) -> bool:
    """Whether ``folder`` exists and is writable, or could be created."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            return candidate.is_dir() and os.access(candidate, os.W_OK | os.X_OK)
    return False


def locate_model(cache_dir: Path, identity: str) -> Path:
    """The folder of the model ``identity`` for a vector cache at ``cache_dir``.

    Parameters
    ----------
    cache_dir : Path
        The vector cache's root.
    identity : str
        The model's storage identity (e.g. ``all-MiniLM-L6-v2-53aa51172d14-fp32``).

    Returns
    -------
    Path
        The cache's own ``models/<identity>`` when it exists; else the store's folder when the
        model is there or the store is writable; else the cache's own folder.

    Example
    -------
    >>> import pathlib, tempfile, os
    >>> os.environ["EMBRM_MODEL_DIR"] = tempfile.mkdtemp()
    >>> cache = pathlib.Path(tempfile.mkdtemp())
    >>> locate_model(cache, "m-fp32") == pathlib.Path(os.environ["EMBRM_MODEL_DIR"]) / "m-fp32"
    True
    >>> del os.environ["EMBRM_MODEL_DIR"]
    """
    own = Path(cache_dir) / "models" / identity
    if own.is_dir():
        return own
    shared = model_store() / identity
    if shared.is_dir() or _can_create(shared.parent):
        return shared
    return own


def model_folders(cache_dir: Path) -> list[Path]:
    """The folders models of ``cache_dir`` may be in: its own ``models`` folder, then the store
    (each once, whether or not it exists)."""
    own, store = Path(cache_dir) / "models", model_store()
    return [own] if own.resolve() == store.resolve() else [own, store]
