"""End-to-end on the whole of alpacaeval (805 prompts x 51 answers): `-m slow`.

Embedding all 41k answers takes tens of minutes on 2 cores the first time (then the cache
serves them in under a second), so this runs only with ``bash scripts/test.sh -m slow``.
"""

from __future__ import annotations

import numpy as np
import pytest

from embrm import Encoder, load_dataset
from embrm.data import group_kfold, within_prompt_pairs
from embrm.evaluate import compare_pairs, evaluate_rewards
from embrm.heads import BTMLP, BTLinear

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


def _held_out_pairs(data, X, make_head):
    """5-fold by prompt over 50 within-prompt pairs per prompt: each pair's held-out rewards."""
    pairs = within_prompt_pairs(data, pairs_per_prompt=50, random_state=0)
    win, lose = pairs.frame["chosen_index"].to_numpy(), pairs.frame["rejected_index"].to_numpy()
    r_win, r_lose = np.empty(win.size), np.empty(win.size)
    for train, test in group_kfold(pairs.groups, 5, random_state=0):
        head = make_head().fit(X[win[train]], X[lose[train]], groups=pairs.groups[train])
        r_win[test], r_lose[test] = head.reward(X[win[test]]), head.reward(X[lose[test]])
    return win, lose, r_win, r_lose, pairs.groups


@pytest.mark.parametrize("make_head", [BTLinear, lambda: BTMLP(random_state=0)], ids=["bt-linear", "bt-mlp"])
def test_heads_on_minilm_plus_length_beat_the_length_rule_on_all_pairs(data_dir, make_head):
    """The judge favours long answers; with length as a feature a head beats "longer wins"."""
    data = load_dataset("alpacaeval", data_dir)
    X = data.embed(Encoder("minilm+length", show_progress=False))
    win, lose, r_win, r_lose, groups = _held_out_pairs(data, X, make_head)
    length = data.frame["response"].str.len_chars().to_numpy().astype(float)
    # benchmarks/train_heads.py (same folds, 40k pairs): 0.726 / 0.728 against length's 0.713.
    diff = compare_pairs(r_win, r_lose, length[win], length[lose], groups, n_bootstrap=500).row(0, named=True)
    assert diff["ci_low"] > 0, diff


def test_bt_mlp_ranks_at_least_as_well_as_bt_linear_on_plain_minilm(data_dir, encoder):
    """The PyTorch reference MLP is ahead of BTLinear on plain MiniLM (0.704 vs 0.701); so is
    BTMLP, by about 0.002 on both machines measured. The CI of that gain excluded zero on one
    (AVX2) and not on the other ([-0.0002, +0.0044], AVX-512, its own embedding cache): the
    test asks for the gain itself and rules out a loss beyond 0.002."""
    data = load_dataset("alpacaeval", data_dir)
    X = data.embed(encoder)
    win, lose, mlp_win, mlp_lose, groups = _held_out_pairs(data, X, lambda: BTMLP(random_state=0))
    *_, lin_win, lin_lose, _ = _held_out_pairs(data, X, BTLinear)
    diff = compare_pairs(mlp_win, mlp_lose, lin_win, lin_lose, groups, n_bootstrap=500).row(0, named=True)
    assert diff["value"] > 0.001 and diff["ci_low"] > -0.002, diff
