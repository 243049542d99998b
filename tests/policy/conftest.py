"""A deterministic stand-in encoder and a head fitted on it, for the policy tests (the
stand-ins themselves are in ``_stand_ins``)."""

from __future__ import annotations

import numpy as np
import pytest
from _stand_ins import ValueEncoder

from embrm.heads import BTLinear


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
