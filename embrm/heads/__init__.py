"""Reward heads trained on cached embeddings of (prompt, response) pairs.

Every head follows one contract (see :class:`BaseHead`): ``fit(X_win, X_lose,
sample_weight=None)`` returns the head, ``reward(X)`` gives one reward per embedded
response, ``score(X_win, X_lose)`` is pairwise accuracy, ``predict_proba(X_a, X_b)`` is
P(a preferred over b), ``save(path)`` / :func:`load` use a portable format.

Names imported as ``name as name`` are shared with embrm's other packages and scripts;
they are not the public API (``__all__``).
"""

from embrm.heads._base import BaseHead, single_threaded
from embrm.heads._base import feature_scale as feature_scale
from embrm.heads._bt import BTLinear
from embrm.heads._classifier import ClassifierHead
from embrm.heads._drm import DRM
from embrm.heads._ensemble import Ensemble
from embrm.heads._io import load
from embrm.heads._lgbm import LGBMHead
from embrm.heads._mlp import BTMLP

#: Head class per CLI name; calling one gives a default-constructed head.
HEADS: dict[str, type[BaseHead]] = {
    "bt-linear": BTLinear,
    "bt-mlp": BTMLP,
    "classifier": ClassifierHead,
    "lgbm": LGBMHead,
    "ensemble": Ensemble,
    "drm": DRM,
}

__all__ = [
    "BTLinear",
    "BTMLP",
    "BaseHead",
    "ClassifierHead",
    "DRM",
    "Ensemble",
    "HEADS",
    "LGBMHead",
    "load",
    "single_threaded",
]
