"""End-to-end on the whole of alpacaeval (805 prompts x 51 answers): `-m slow`.

Embedding all 41k answers takes tens of minutes on 2 cores the first time (then the cache
serves them in under a second), so this runs only with ``bash scripts/test.sh -m slow``.
"""

from __future__ import annotations

import numpy as np
import pytest

from embrm import load_dataset
from embrm.data import group_kfold, within_prompt_pairs
from embrm.evaluate import evaluate_rewards
from embrm.heads import BTLinear

pytestmark = pytest.mark.slow


def _metric(report, name):
    row = report.filter(report["metric"] == name).row(0, named=True)
    return row["value"], row["ci_low"], row["ci_high"]


def test_bt_head_picks_better_answers_than_the_longest(data_dir, encoder):
    """5-fold by prompt: the head's Best-of-51 pick beats always-longest, CIs apart."""
    data = load_dataset("alpacaeval", data_dir)
    X = data.embed(encoder)
    reward = np.empty(len(data))
    for k, (train, test) in enumerate(group_kfold(data.groups, 5, random_state=0)):
        pairs = within_prompt_pairs(data.take(train), pairs_per_prompt=50, random_state=k)
        X_train = X[train]
        head = BTLinear().fit(
            X_train[pairs.frame["chosen_index"].to_numpy()],
            X_train[pairs.frame["rejected_index"].to_numpy()],
        )
        reward[test] = head.reward(X[test])
    length = data.frame["response"].str.len_chars().to_numpy().astype(float)
    ours = evaluate_rewards(reward, data.scores, data.groups, n="all", n_bootstrap=500)
    longest = evaluate_rewards(length, data.scores, data.groups, n="all", n_bootstrap=500)
    gain, gain_low, _ = _metric(ours, "normalised_gain@all")
    base, _, base_high = _metric(longest, "normalised_gain@all")
    assert gain_low > base_high, (gain, base)
    assert _metric(ours, "spearman")[0] > 0.4
