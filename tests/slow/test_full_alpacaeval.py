"""End-to-end on the whole of alpacaeval (805 prompts x 51 answers): `-m slow`.

Embedding all 41k answers takes tens of minutes on 2 cores the first time (then the cache
serves them in under a second), so this runs only with ``bash scripts/test.sh -m slow``.
"""

from __future__ import annotations

from functools import partial

import pytest

from embrm import Encoder, load_dataset
from embrm.data import within_prompt_pairs
from embrm.evaluate import compare_pairs, evaluate_rewards
from embrm.heads import BTMLP, BTLinear
from embrm.model_selection import baseline_rewards, cross_val_rewards

pytestmark = pytest.mark.slow


def _metric(report, name):
    row = report.filter(report["metric"] == name).row(0, named=True)
    return row["value"], row["ci_low"], row["ci_high"]


def test_bt_head_picks_better_answers_than_the_longest(data_dir, encoder):
    """5-fold by prompt: the head's Best-of-51 pick beats always-longest, CIs apart."""
    data = load_dataset("alpacaeval", data_dir)
    X = data.embed(encoder)
    build = partial(within_prompt_pairs, pairs_per_prompt=50)
    reward = cross_val_rewards(BTLinear(), data, X, cv=5, pairs=build, random_state=0).reward
    longest = baseline_rewards(data)["longest"]
    ours = evaluate_rewards(reward, data.scores, data.groups, n="all", n_bootstrap=500)
    longest = evaluate_rewards(longest, data.scores, data.groups, n="all", n_bootstrap=500)
    gain, gain_low, _ = _metric(ours, "normalised_gain@all")
    base, _, base_high = _metric(longest, "normalised_gain@all")
    assert gain_low > base_high, (gain, base)
    assert _metric(ours, "spearman")[0] > 0.4


def _held_out_pairs(data, X, make_head):
    """5-fold by prompt over 50 within-prompt pairs per prompt: each pair's held-out rewards."""
    pairs = within_prompt_pairs(data, pairs_per_prompt=50, random_state=0)
    result = cross_val_rewards(make_head(), pairs, pairs.gather(X), cv=5, random_state=0)
    return pairs, result.reward_win, result.reward_lose


@pytest.mark.parametrize("make_head", [BTLinear, lambda: BTMLP(random_state=0)], ids=["bt-linear", "bt-mlp"])
def test_heads_on_minilm_plus_length_beat_the_length_rule_on_all_pairs(data_dir, make_head):
    """The judge favours long answers; with length as a feature a head beats "longer wins"."""
    data = load_dataset("alpacaeval", data_dir)
    X = data.embed(Encoder("minilm+length", show_progress=False))
    pairs, r_win, r_lose = _held_out_pairs(data, X, make_head)
    length_win, length_lose = pairs.gather(baseline_rewards(data)["longest"])
    # benchmarks/train_heads.py (same folds, 40k pairs): 0.726 / 0.728 against length's 0.713.
    diff = compare_pairs(r_win, r_lose, length_win, length_lose, pairs.groups, n_bootstrap=500).row(
        0, named=True
    )
    assert diff["ci_low"] > 0, diff


def test_bt_mlp_ranks_at_least_as_well_as_bt_linear_on_plain_minilm(data_dir, encoder):
    """The PyTorch reference MLP is ahead of BTLinear on plain MiniLM (0.704 vs 0.701); so is
    BTMLP, by about 0.002 on both machines measured. The CI of that gain excluded zero on one
    (AVX2) and not on the other ([-0.0002, +0.0044], AVX-512, its own embedding cache): the
    test asks for the gain itself and rules out a loss beyond 0.002."""
    data = load_dataset("alpacaeval", data_dir)
    X = data.embed(encoder)
    pairs, mlp_win, mlp_lose = _held_out_pairs(data, X, lambda: BTMLP(random_state=0))
    _, lin_win, lin_lose = _held_out_pairs(data, X, BTLinear)
    diff = compare_pairs(mlp_win, mlp_lose, lin_win, lin_lose, pairs.groups, n_bootstrap=500).row(
        0, named=True
    )
    assert diff["value"] > 0.001 and diff["ci_low"] > -0.002, diff
