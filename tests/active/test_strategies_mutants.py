"""Strategies against brute-force references where the main tests leave a choice open:
k-center's farthest-point picks, the designs' outcome variances, ties and defaults."""

from __future__ import annotations

import numpy as np
import pytest

from embrm.active import (
    DOptimal,
    KCenter,
    MaxDifference,
    PoolLeverage,
    Uncertainty,
    VOptimal,
    log_det_information,
)
from embrm.active._strategies import eligible_mask, information_matrix
from embrm.heads import BTLinear


def _pool(n, d, seed, dtype=np.float64):
    return np.random.RandomState(seed).standard_normal((n, d)).astype(dtype)


def _brute_force_k_center(D, labelled, first, k):
    """Farthest-point picks with the sign-free distance min(||d - c||, ||d + c||)."""
    centres = [] if labelled is None else list(labelled.astype(np.float64))
    chosen = [] if first is None else [first]
    D = D.astype(np.float64)
    while len(chosen) < k:
        cs = np.array(centres + [D[i] for i in chosen])
        dist = np.minimum(
            ((D[:, None, :] - cs[None]) ** 2).sum(axis=2), ((D[:, None, :] + cs[None]) ** 2).sum(axis=2)
        ).min(axis=1)
        dist[chosen] = -np.inf
        chosen.append(int(np.argmax(dist)))
    return chosen


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_k_center_with_labels_is_the_farthest_point_greedy(dtype):
    D = _pool(70, 4, 0, dtype)
    labelled = _pool(5, 4, 1, dtype)
    labelled[0] = 3.0 * D[0]  # the first labelled row must count (it covers D[0]'s region)
    picks = KCenter().select(D, labelled=labelled, batch_size=8, random_state=0)
    assert picks.tolist() == _brute_force_k_center(D, labelled, None, 8)


def test_k_center_without_labels_starts_at_random_then_goes_farthest():
    D = _pool(50, 3, 2)
    firsts = set()
    for seed in range(8):
        picks = KCenter().select(D, batch_size=6, random_state=seed)
        assert picks.tolist() == _brute_force_k_center(D, None, int(picks[0]), 6)
        firsts.add(int(picks[0]))
    assert len(firsts) >= 4  # the first pick is random, not always the same row


def test_k_center_first_pick_with_labels_is_not_random():
    D = _pool(40, 3, 3)
    labelled = _pool(4, 3, 4)
    picks = {int(KCenter().select(D, labelled=labelled, batch_size=1, random_state=s)[0]) for s in range(6)}
    assert picks == {_brute_force_k_center(D, labelled, None, 1)[0]}


@pytest.mark.parametrize("strategy", [Uncertainty, MaxDifference])
def test_gap_strategies_without_a_head_pick_at_random(strategy):
    D = _pool(30, 3, 5)
    batches = {tuple(strategy().select(D, batch_size=4, random_state=s).tolist()) for s in range(5)}
    assert len(batches) == 5 and all(len(set(b)) == 4 for b in batches)


def test_gap_strategies_exact_top_k_at_every_batch_size():
    D = _pool(25, 3, 6)
    oriented = D[:10] * np.sign(D[:10, 0])[:, None]
    head = BTLinear(standardize=False, alpha=1e-3).fit(oriented, np.zeros((10, 3)))
    gap = np.abs(D @ head.coef_)
    for k in (1, 2, 24, 25):
        low = Uncertainty().select(D, head=head, batch_size=k, random_state=0).tolist()
        assert low == np.argsort(gap)[:k].tolist()
        top = MaxDifference().select(D, head=head, batch_size=k, random_state=0).tolist()
        assert top == np.argsort(-gap)[:k].tolist()


def test_log_det_information_closed_form():
    D = _pool(12, 3, 7)
    w = np.linspace(0.05, 0.25, 12)
    assert log_det_information(D) == pytest.approx(np.linalg.slogdet(np.eye(3) + 0.25 * D.T @ D)[1])
    expected = np.linalg.slogdet(2.0 * np.eye(3) + (D * w[:, None]).T @ D)[1]
    assert log_det_information(D, w, prior_strength=2.0) == pytest.approx(expected)
    assert log_det_information(D.tolist(), w.tolist(), 2.0) == pytest.approx(expected)


def _confident_head(D, labelled):
    """A BTLinear whose margins are large, so p (1 - p) is far from the prior's 1/4."""
    return BTLinear(standardize=False, alpha=1e-4).fit(labelled * 4.0, np.zeros_like(labelled))


def test_pool_leverage_reads_the_head_and_the_labels_variances():
    D = _pool(40, 4, 8)
    past = _pool(6, 4, 9) * np.array([3.0, 1.0, 0.3, 0.1])
    past *= np.sign(past[:, 0])[:, None]
    head = _confident_head(D, past)
    v = 1 / (1 + np.exp(-D @ head.coef_))
    v *= 1 - v
    p = 1 / (1 + np.exp(-past @ head.coef_))
    for past_aware in (False, True):
        base = (past * (p * (1 - p))[:, None]).T @ past if past_aware else 0.0
        M = (D * v[:, None]).T @ D + 1e-6 * np.eye(4) + base
        score = v * np.einsum("ij,jk,ik->i", D, np.linalg.inv(M), D)
        strategy = PoolLeverage(past_aware=past_aware)
        picks = strategy.select(D, labelled=past, head=head, batch_size=40, random_state=0)
        assert picks.tolist() == np.argsort(-score).tolist()  # the whole ranking, row 0 included
        if not past_aware:  # the default
            default = PoolLeverage().select(D, labelled=past, head=head, batch_size=40, random_state=0)
            assert default.tolist() == picks.tolist()


def test_vopt_uses_the_labels_variances_under_a_confident_head():
    D = _pool(60, 5, 10) * np.array([2.0, 1.0, 0.5, 0.3, 0.1])
    labelled = D[:3] * np.sign(D[:3, 0])[:, None]
    head = _confident_head(D, labelled)
    v = 1 / (1 + np.exp(-D @ head.coef_))
    v *= 1 - v
    p_lab = 1 / (1 + np.exp(-labelled @ head.coef_))
    A = 0.1 * np.eye(5) + (labelled * (p_lab * (1 - p_lab))[:, None]).T @ labelled
    P = D.T @ D / len(D)
    chosen = []
    for _ in range(4):
        values = [
            np.inf if i < 3 or i in chosen else np.trace(np.linalg.solve(A + v[i] * np.outer(D[i], D[i]), P))
            for i in range(len(D))
        ]
        chosen.append(int(np.argmin(values)))
        A += v[chosen[-1]] * np.outer(D[chosen[-1]], D[chosen[-1]])
    picks = VOptimal().select(D, labelled=labelled, head=head, batch_size=4, random_state=0)
    assert picks.tolist() == chosen


def test_vopt_breaks_exact_ties_at_random():
    D = np.repeat(np.eye(3), 10, axis=0)  # ten copies of each direction: exact ties
    firsts = {int(VOptimal().select(D, batch_size=1, random_state=s)[0]) for s in range(10)}
    assert len(firsts) >= 4


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_labelled_pairs_are_excluded_in_either_sign_beyond_the_first_hash_blocks(dtype):
    D = _pool(9000, 3, 11, dtype)
    D[17] = 0.0  # a self pair
    rows = [2, 4200, 8500, 8999]
    labelled = np.vstack([-D[2], D[4200], -D[8500], D[8999]])
    eligible = eligible_mask(D, labelled)
    assert np.flatnonzero(~eligible).tolist() == sorted([17, *rows])


def test_information_matrix_closed_form():
    D = _pool(30, 4, 12)
    w = np.linspace(0.1, 2.0, 30)
    base = np.diag([1.0, 2.0, 3.0, 4.0])
    expected = base + 0.5 * np.eye(4) + (D * w[:, None]).T @ D
    np.testing.assert_allclose(information_matrix(D, w, 0.5, base), expected, rtol=1e-12)
    np.testing.assert_allclose(information_matrix(D, w, 0.5), expected - base, rtol=1e-12)


def test_dopt_breaks_exact_ties_at_random():
    D = np.repeat(np.eye(3), 10, axis=0)  # ten copies of each direction: exact ties
    firsts = {int(DOptimal().select(D, batch_size=1, random_state=s)[0]) for s in range(10)}
    assert len(firsts) >= 4
