"""A deterministic stand-in encoder and a head fitted on it, for the policy tests.

``ValueEncoder`` embeds a response as ``[v, 1]`` where ``v`` is the number the response
starts with (``"3 apples"`` -> 3), so a Bradley-Terry head fitted on pairs "higher number
wins" has a reward increasing in ``v``: every pick and pair is known in advance.
"""

from __future__ import annotations

import numpy as np
import pytest

from embrm.heads import BTLinear


class ValueEncoder:
    """Embeds ``response`` as ``[leading number, prompt length / 100]``."""

    identity = "value-encoder-v1"

    def __init__(self):
        self.calls: list[tuple[list[str], list[str]]] = []

    def encode_responses(self, prompts, responses):
        self.calls.append((list(prompts), list(responses)))
        return np.array(
            [[float(r.split()[0]), len(p) / 100] for p, r in zip(prompts, responses, strict=True)]
        )


@pytest.fixture
def value_encoder() -> ValueEncoder:
    return ValueEncoder()


@pytest.fixture
def value_head(value_encoder) -> BTLinear:
    """BTLinear fitted on "the higher leading number wins", recorded as trained on ValueEncoder."""
    rng = np.random.RandomState(0)
    a, b = rng.uniform(0, 10, 200), rng.uniform(0, 10, 200)
    length = rng.uniform(0, 1, 200)
    win, lose = np.maximum(a, b), np.minimum(a, b)
    return BTLinear().fit(
        np.c_[win, length], np.c_[lose, length], encoder_id=value_encoder.identity
    )
