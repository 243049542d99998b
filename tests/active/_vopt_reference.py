"""Independent reference computations the strategy tests compare the library's picks with."""

from __future__ import annotations

import numpy as np


def vopt_greedy_reference(
    D: np.ndarray, labelled: np.ndarray, coef: np.ndarray, prior_strength: float, batch_size: int
) -> list[int]:
    """Greedy V-optimal from scratch: each pick is the candidate that most lowers the summed
    predictive variance ``tr(A^-1 P)`` over the pool, ``P = D^T D / n``, where ``A`` is the prior
    plus the labelled rows' and the picks' information under the head ``coef`` (outcome
    variance ``p (1 - p)``). The first ``len(labelled)`` candidates are the labelled pairs and are
    never picked."""
    v = 1 / (1 + np.exp(-D @ coef))
    v *= 1 - v
    p_lab = 1 / (1 + np.exp(-labelled @ coef))
    A = prior_strength * np.eye(D.shape[1]) + (labelled * (p_lab * (1 - p_lab))[:, None]).T @ labelled
    P = D.T @ D / len(D)
    chosen: list[int] = []
    for _ in range(batch_size):
        values = [
            np.inf
            if i < len(labelled) or i in chosen
            else np.trace(np.linalg.solve(A + v[i] * np.outer(D[i], D[i]), P))
            for i in range(len(D))
        ]
        i = int(np.argmin(values))
        chosen.append(i)
        A += v[i] * np.outer(D[i], D[i])
    return chosen
