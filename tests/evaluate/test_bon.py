"""Exact Best-of-N: brute force over all subsets, Monte Carlo, limiting cases, errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.special import comb

from embrm.evaluate import best_of_n, bon_curve
from embrm.evaluate._bon import _bon_weights
from embrm.exceptions import DataError


def brute_force_bon(reward, golden, groups, n):
    """Mean over groups of the average, over every n-subset, of the pick's golden score.

    The pick of a subset is uniform among its candidates of highest reward.
    """
    values = []
    for label in np.unique(groups):
        r, g = reward[groups == label], golden[groups == label]
        k = r.size if n == "all" else n
        picks = []
        for subset in itertools.combinations(range(r.size), k):
            s = np.array(subset)
            top = s[r[s] == r[s].max()]
            picks.append(g[top].mean())
        values.append(np.mean(picks))
    return float(np.mean(values))


def monte_carlo_bon(reward, golden, groups, n, n_perm, rng):
    """The reference estimate: the pick among the first n of random permutations."""
    values = []
    for label in np.unique(groups):
        r, g = reward[groups == label], golden[groups == label]
        perms = rng.permuted(np.tile(np.arange(r.size), (n_perm, 1)), axis=1)[:, :n]
        values.append(g[perms[np.arange(n_perm), np.argmax(r[perms], axis=1)]].mean())
    return float(np.mean(values))


def scored_sets(sizes, rng, reward_levels=None):
    """Random scored sets; ``reward_levels`` rounds rewards to force ties."""
    groups = np.repeat(np.arange(len(sizes)), sizes)
    golden = rng.normal(size=groups.size)
    reward = golden + rng.normal(size=groups.size)
    if reward_levels is not None:
        reward = rng.integers(0, reward_levels, size=groups.size).astype(float)
    return reward, golden, groups


@pytest.mark.parametrize("k", [1, 2, 7, 51, 400])
def test_weights_are_the_order_statistic_probabilities(k):
    ns = tuple(range(1, k + 1))
    w = _bon_weights(k, ns)
    np.testing.assert_allclose(w.sum(axis=0), 1.0, rtol=1e-10)
    j, n = np.arange(1, k + 1)[:, None], np.array(ns)[None, :]
    expected = comb(k - j, n - 1) / comb(k, n)
    np.testing.assert_allclose(w, expected, rtol=1e-9, atol=1e-300)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("reward_levels", [None, 2, 3])
def test_exact_equals_brute_force_over_all_subsets(seed, reward_levels):
    rng = np.random.default_rng(seed)
    reward, golden, groups = scored_sets([4, 6, 7, 5], rng, reward_levels)
    curve = bon_curve(reward, golden, groups)
    assert curve["n"].to_list() == [1, 2, 3, 4]
    for n in range(1, 5):
        expected = brute_force_bon(reward, golden, groups, n)
        assert best_of_n(reward, golden, groups, n) == pytest.approx(expected, abs=1e-12)
        assert curve["bon"][n - 1] == pytest.approx(expected, abs=1e-12)
    assert best_of_n(reward, golden, groups, "all") == pytest.approx(
        brute_force_bon(reward, golden, groups, "all"), abs=1e-12
    )


def test_ties_in_reward_hand_computed():
    # Two candidates tie at the top: N=3 picks either with probability 1/2 -> 0.5.
    # N=2: {a,b} -> 0.5, {a,c} -> 1.0, {b,c} -> 0.0; mean 0.5.
    reward, golden, groups = [1.0, 1.0, 0.0], [1.0, 0.0, 0.9], [0, 0, 0]
    assert best_of_n(reward, golden, groups, 1) == pytest.approx(1.9 / 3)
    assert best_of_n(reward, golden, groups, 2) == pytest.approx(0.5)
    assert best_of_n(reward, golden, groups, 3) == pytest.approx(0.5)


def test_limits_mean_and_argmax_and_golden_pick():
    rng = np.random.default_rng(1)
    reward, golden, groups = scored_sets([9] * 30, rng)
    g, r = golden.reshape(30, 9), reward.reshape(30, 9)
    assert best_of_n(reward, golden, groups, 1) == pytest.approx(g.mean())
    picked = g[np.arange(30), r.argmax(axis=1)].mean()
    assert best_of_n(reward, golden, groups, 9) == pytest.approx(picked)
    assert best_of_n(reward, golden, groups, "all") == pytest.approx(picked)

    curve = bon_curve(reward, golden, groups)
    perfect = bon_curve(golden, golden, groups)
    reversed_ = bon_curve(-golden, golden, groups)
    np.testing.assert_allclose(perfect["bon"], curve["golden_bon"], atol=1e-12)
    np.testing.assert_allclose(perfect["normalised_gain"][1:], 1.0, atol=1e-12)
    assert reversed_["bon"][8] == pytest.approx(g.min(axis=1).mean())
    # The reversed reward picks the expected minimum golden score: the golden pick of -golden.
    worst = (-bon_curve(-golden, -golden, groups)["bon"]).to_numpy()
    np.testing.assert_allclose(reversed_["bon"], worst, atol=1e-12)
    assert (reversed_["normalised_gain"][1:] < 0).all()
    # Random baseline is the mean for every N; the head lies between worst and the golden pick.
    np.testing.assert_allclose(curve["random"], g.mean(axis=1).mean(), atol=1e-12)
    assert (curve["bon"] <= curve["golden_bon"] + 1e-12).all()
    assert (curve["bon"] >= reversed_["bon"] - 1e-12).all()


def test_curve_columns_kl_and_gain():
    rng = np.random.default_rng(2)
    reward, golden, groups = scored_sets([5] * 20, rng)
    curve = bon_curve(reward, golden, groups)
    assert curve.columns == ["n", "bon", "random", "golden_bon", "normalised_gain", "kl"]
    n = np.arange(1, 6)
    np.testing.assert_allclose(curve["kl"], np.log(n) - (n - 1) / n)
    assert curve["normalised_gain"][0] is None  # 0/0 at N = 1
    gain = (curve["bon"] - curve["random"]) / (curve["golden_bon"] - curve["random"])
    np.testing.assert_allclose(curve["normalised_gain"][1:], gain[1:])
    assert bon_curve(reward, golden, groups, n_max=3).height == 3


@pytest.mark.parametrize("reward_levels", [None, 3])
def test_exact_agrees_with_monte_carlo(reward_levels):
    rng = np.random.default_rng(3)
    reward, golden, groups = scored_sets([12] * 40, rng, reward_levels)
    for n in (2, 5, 11):
        exact = best_of_n(reward, golden, groups, n)
        mc = monte_carlo_bon(reward, golden, groups, n, 4000, rng)
        # 40 groups x 4000 draws, golden sd ~1: the standard error is below 0.003.
        assert mc == pytest.approx(exact, abs=0.012)


def test_invariant_to_row_order_and_label_type():
    rng = np.random.default_rng(4)
    reward, golden, groups = scored_sets([6, 8, 7], rng, reward_levels=4)
    expected = bon_curve(reward, golden, groups)
    perm = rng.permutation(reward.size)
    labels = np.array(["x", "y", "z"])[groups]
    shuffled = bon_curve(reward[perm], golden[perm], labels[perm])
    np.testing.assert_allclose(shuffled["bon"], expected["bon"], atol=1e-12)
    assert shuffled.height == 6  # up to the smallest group


def test_unequal_groups_all_is_argmax_per_group():
    rng = np.random.default_rng(5)
    reward, golden, groups = scored_sets([3, 10, 25], rng)
    picks = [golden[groups == i][np.argmax(reward[groups == i])] for i in range(3)]
    assert best_of_n(reward, golden, groups, "all") == pytest.approx(np.mean(picks))


def test_curve_805_by_51_has_a_row_per_n():
    # Its speed (< 1 s) is measured in benchmarks/bon_curve.py, not here.
    rng = np.random.default_rng(6)
    reward, golden, groups = scored_sets([51] * 805, rng, reward_levels=20)
    curve = bon_curve(reward, golden, groups)
    assert curve["n"].to_list() == list(range(1, 52))
    assert (np.diff(curve["golden_bon"].to_numpy()) >= -1e-12).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"reward": [1.0, 2.0]}, "'golden' has 3 rows but the first argument has 2"),
        ({"groups": [0, 0]}, "'groups' has 2 rows"),
        ({"reward": [1.0, np.nan, 2.0]}, "'reward' has 1 NaN or infinite value.*row 1"),
        ({"golden": [1.0, 2.0, np.inf]}, "'golden' has 1 NaN.*row 2"),
        ({"reward": [], "golden": [], "groups": []}, "'reward' is empty"),
        ({"n": 0}, "'n' must be a positive integer"),
        ({"n": True}, "'n' must be a positive integer"),
        ({"n": "most"}, "'n' must be a positive integer"),
        ({"n": 3}, "n=3 exceeds the size of group 'b', which has 1"),
        ({"reward": [[1.0, 2.0, 3.0]]}, "one-dimensional"),
    ],
)
def test_bad_input_raises_data_error(kwargs, match):
    args = {"reward": [1.0, 2.0, 3.0], "golden": [0.0, 1.0, 2.0], "groups": ["a", "a", "b"], "n": 1} | kwargs
    with pytest.raises(DataError, match=match):
        best_of_n(**args)


def test_bad_curve_arguments():
    reward, golden, groups = [1.0, 2.0, 3.0], [0.0, 1.0, 2.0], [0, 0, 1]
    message = r"^'n_max' must be a positive integer; \"all\" is not a single size\.$"
    with pytest.raises(DataError, match=message):
        bon_curve(reward, golden, groups, n_max="all")
    with pytest.raises(DataError, match="n=2 exceeds"):
        bon_curve(reward, golden, groups, n_max=2)
    with pytest.raises(DataError, match="'n_bootstrap' must be an integer >= 0"):
        bon_curve(reward, golden, groups, n_bootstrap=-1)


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
def test_gain_noise_threshold_scales_with_the_scores(scale):
    # The 0/0 at N = 1 is detected relative to the scores' size: the gain is null at N = 1
    # and the same number at N >= 2 whatever the unit of the golden score.
    rng = np.random.default_rng(7)
    reward, golden, groups = scored_sets([6] * 25, rng)
    unit = bon_curve(reward, golden, groups)
    scaled = bon_curve(reward, scale * golden, groups)
    assert scaled["normalised_gain"][0] is None
    np.testing.assert_allclose(scaled["normalised_gain"][1:], unit["normalised_gain"][1:], rtol=1e-9)
    np.testing.assert_allclose(scaled["bon"], scale * unit["bon"], rtol=1e-12)


def test_gain_with_a_constant_group_is_the_ratio_over_the_others():
    # A group with a constant golden score adds 0 to both sums of the gain (bon = golden_bon =
    # random there, up to rounding); a group with a constant reward adds 0 to the numerator
    # only. Neither may turn the pooled gain into a null.
    rng = np.random.default_rng(8)
    reward, golden, groups = scored_sets([5] * 6, rng)
    golden[groups == 0] = 0.3  # constant golden score
    reward[groups == 1] = 2.0  # constant reward: the pick is random
    curve = bon_curve(reward, golden, groups)
    r, g = reward.reshape(6, 5), golden.reshape(6, 5)
    for n in range(2, 6):
        bon = [brute_force_bon(r[i], g[i], np.zeros(5), n) for i in range(6)]
        golden_bon = [brute_force_bon(g[i], g[i], np.zeros(5), n) for i in range(6)]
        random = g.mean(axis=1)
        num = sum(bon[i] - random[i] for i in range(2, 6))
        den = sum(golden_bon[i] - random[i] for i in range(1, 6))
        assert curve["normalised_gain"][n - 1] == pytest.approx(num / den, rel=1e-9)


def test_curve_intervals_are_percentiles_of_curves_on_resampled_prompts():
    # Reference: draw the prompts of each resample as the bootstrap does (a seeded
    # RandomState, n_groups draws with replacement), rebuild the data of the drawn prompts
    # (a prompt drawn twice appears twice) and compute its curve from scratch.
    rng = np.random.default_rng(9)
    reward, golden, groups = scored_sets([4] * 12, rng, reward_levels=3)
    n_boot, confidence = 40, 0.8
    curve = bon_curve(reward, golden, groups, n_bootstrap=n_boot, confidence=confidence, random_state=5)
    assert curve.columns == [
        "n", "bon", "random", "golden_bon", "normalised_gain", "kl",
        "bon_ci_low", "bon_ci_high", "normalised_gain_ci_low", "normalised_gain_ci_high",
    ]
    draws = np.random.RandomState(5).randint(0, 12, size=(n_boot, 12))
    bons, gains = [], []
    for drawn in draws:
        rows = np.concatenate([np.flatnonzero(groups == g) for g in drawn])
        labels = np.repeat(np.arange(12), 4)
        resampled = bon_curve(reward[rows], golden[rows], labels)
        bons.append(resampled["bon"].to_numpy())
        gains.append(resampled["normalised_gain"].fill_null(np.nan).to_numpy())
    alpha = (1 - confidence) / 2
    low, high = np.quantile(bons, [alpha, 1 - alpha], axis=0)
    np.testing.assert_allclose(curve["bon_ci_low"], low, rtol=1e-10)
    np.testing.assert_allclose(curve["bon_ci_high"], high, rtol=1e-10)
    low, high = np.nanquantile(np.array(gains)[:, 1:], [alpha, 1 - alpha], axis=0)
    np.testing.assert_allclose(curve["normalised_gain_ci_low"][1:], low, rtol=1e-10)
    np.testing.assert_allclose(curve["normalised_gain_ci_high"][1:], high, rtol=1e-10)
    assert curve["normalised_gain_ci_low"][0] is None and curve["normalised_gain_ci_high"][0] is None
