"""Selection strategies: planted answers for the information criterion, the greedy picks,
the reference's one-shot rule, and what every strategy must never return."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from _vopt_reference import vopt_greedy_reference
from sklearn.base import clone

from embrm.active import (
    STRATEGIES,
    DOptimal,
    MaxDifference,
    PoolLeverage,
    Random,
    Uncertainty,
    VOptimal,
)
from embrm.active._strategies import _greedy, _initial_gains, _sherman_morrison, log_det_information
from embrm.exceptions import DataError, EncoderMismatchError
from embrm.heads import BTMLP, BTLinear


def _anisotropic_pool(n: int, d: int, seed: int) -> np.ndarray:
    """Differences with a decaying spectrum, like embedding differences."""
    rng = np.random.RandomState(seed)
    return rng.standard_normal((n, d)) * (1.0 / np.arange(1, d + 1)) ** 0.5


def _brute_force_greedy(D, v, prior_strength, labelled_info, k):
    """Greedy by recomputing log det from scratch for every candidate at every step."""
    chosen = []
    for _ in range(k):
        best, best_i = -np.inf, None
        for i in range(len(D)):
            if i in chosen:
                continue
            rows = chosen + [i]
            M = prior_strength * np.eye(D.shape[1]) + labelled_info + (D[rows] * v[rows, None]).T @ D[rows]
            value = np.linalg.slogdet(M)[1]
            if value > best:
                best, best_i = value, i
        chosen.append(best_i)
    return chosen


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dopt_batch_of_one_is_the_brute_force_best(seed):
    D = _anisotropic_pool(30, 5, seed)
    i = DOptimal(prior_strength=0.5, random_state=0).select(D, batch_size=1)[0]
    values = [log_det_information(D[[j]], prior_strength=0.5) for j in range(len(D))]
    assert i == int(np.argmax(values))
    # and greedy k=3 is within (1 - 1/e) of the best triple (here it is usually optimal)
    best = max(
        log_det_information(D[list(c)], prior_strength=0.5) - 5 * np.log(0.5)
        for c in itertools.combinations(range(len(D)), 3)
    )
    picks = DOptimal(prior_strength=0.5, random_state=0).select(D, batch_size=3)
    assert log_det_information(D[picks], prior_strength=0.5) - 5 * np.log(0.5) >= (1 - 1 / np.e) * best


def test_dopt_equals_brute_force_greedy_with_labels_and_head():
    D = _anisotropic_pool(60, 6, 3)
    labelled = D[:4] * np.array([1, -1, 1, -1])[:, None]
    head = BTLinear(standardize=False, alpha=1.0).fit(D[4:10], np.zeros((6, 6)))
    picks = DOptimal(prior_strength=2.0, random_state=0).select(D, labelled=labelled, head=head, batch_size=6)
    p = 1 / (1 + np.exp(-D @ head.coef_))
    v = p * (1 - p)
    p_lab = 1 / (1 + np.exp(-labelled @ head.coef_))
    info = (labelled * (p_lab * (1 - p_lab))[:, None]).T @ labelled
    expected = _brute_force_greedy(D, v, 2.0, info, 6 + 4)
    expected = [i for i in expected if i >= 4][:6]  # labelled rows 0-3 are never eligible
    assert picks.tolist() == expected


def test_sherman_morrison_and_downdates_equal_direct_recomputation():
    rng = np.random.RandomState(0)
    D = _anisotropic_pool(200, 8, 4)
    v = rng.uniform(0.05, 0.25, size=200)
    labelled = D[:3]  # fewer labels than features: the Woodbury path
    gain, A_inv = _initial_gains(D, np.einsum("ij,ij->i", D, D), labelled, None, 0.7)
    A = 0.7 * np.eye(8) + 0.25 * labelled.T @ labelled
    np.testing.assert_allclose(gain, np.einsum("ij,jk,ik->i", D, np.linalg.inv(A), D), rtol=1e-9)
    gain_full, A_inv_full = _initial_gains(
        D, np.einsum("ij,ij->i", D, D), _anisotropic_pool(20, 8, 5), None, 0.7
    )  # dense path
    A2 = 0.7 * np.eye(8) + 0.25 * _anisotropic_pool(20, 8, 5).T @ _anisotropic_pool(20, 8, 5)
    np.testing.assert_allclose(A_inv_full, np.linalg.inv(A2), rtol=1e-9, atol=1e-12)
    u, c = _sherman_morrison(A_inv, D[7], v[7])
    np.testing.assert_allclose(A_inv, np.linalg.inv(A + v[7] * np.outer(D[7], D[7])), rtol=1e-9, atol=1e-12)
    # the greedy's running gains after 5 picks equal v_i d_i^T A_5^{-1} d_i
    gain, A_inv = _initial_gains(D, np.einsum("ij,ij->i", D, D), None, None, 0.7)
    gain *= v
    picks = _greedy(D, v, gain.copy(), A_inv, 5)
    A5 = 0.7 * np.eye(8) + (D[picks] * v[picks, None]).T @ D[picks]
    np.testing.assert_allclose(A_inv, np.linalg.inv(A5), rtol=1e-8, atol=1e-12)


def test_shortlist_path_matches_the_full_downdate():
    """Pools larger than the shortlist pick exactly what downdating everyone would."""
    D = _anisotropic_pool(9000, 12, 6).astype(np.float32)
    picks = DOptimal(prior_strength=1.0, random_state=0).select(D, batch_size=40)
    v = np.full(9000, 0.25)
    chosen, A = [], np.eye(12)
    for _ in range(40):  # naive greedy: recompute every gain from the current inverse
        gains = v * np.einsum("ij,jk,ik->i", D.astype(np.float64), np.linalg.inv(A), D.astype(np.float64))
        gains[chosen] = -np.inf
        i = int(np.argmax(gains))
        chosen.append(i)
        A += 0.25 * np.outer(D[i], D[i])
    assert picks.tolist() == chosen


def test_vopt_equals_brute_force_greedy_on_pool_variance():
    """Each V-optimal pick is the candidate that most lowers the summed predictive variance
    tr(A^-1 P) over the pool, recomputed from scratch (with labels and a head)."""
    D = _anisotropic_pool(80, 6, 7)
    labelled = D[:3] * np.array([1, -1, 1])[:, None]
    head = BTLinear(standardize=False, alpha=1.0).fit(D[3:10], np.zeros((7, 6)))
    picks = VOptimal(prior_strength=0.5, random_state=0).select(D, labelled=labelled, head=head, batch_size=5)
    chosen = vopt_greedy_reference(D, labelled, head.coef_, prior_strength=0.5, batch_size=5)
    assert picks.tolist() == chosen


def test_vopt_prefers_common_directions_to_a_rare_extreme():
    """Planted: 200 differences along one axis, 3 longer ones along another. D-optimal
    starts with a rare long one; V-optimal starts on the axis the pool lives on."""
    rng = np.random.RandomState(0)
    common = np.c_[rng.normal(1.0, 0.1, 200), rng.normal(0.0, 0.05, 200), np.zeros(200)]
    rare = np.c_[np.zeros(3), np.zeros(3), rng.normal(2.5, 0.1, 3)]
    D = np.vstack([common, rare])
    dopt = DOptimal(random_state=0).select(D, batch_size=3)
    vopt = VOptimal(random_state=0).select(D, batch_size=3)
    assert dopt[0] >= 200 and max(vopt[:2]) < 200
    assert np.sum(dopt >= 200) > np.sum(vopt >= 200)


def test_dopt_log_det_beats_pool_leverage_and_random():
    """Planted: three clusters of near-duplicate directions, one much more populous. The
    one-shot rule spends its batch on one cluster; greedy covers all three."""
    rng = np.random.RandomState(0)
    centres = np.eye(6)[:3] * np.array([3.0, 1.0, 1.0])[:, None]
    D = np.vstack([centres[k] + 0.01 * rng.standard_normal((n, 6)) for k, n in enumerate([200, 5, 5])])
    D = np.vstack([D, 0.3 * rng.standard_normal((50, 6))])
    value = {
        name: log_det_information(D[s.select(D, batch_size=6)])
        for name, s in {
            "dopt": DOptimal(prior_strength=1.0, random_state=0),
            "leverage": PoolLeverage(random_state=0),
            "random": Random(random_state=0),
        }.items()
    }
    assert value["dopt"] > value["leverage"] + 1.0
    assert value["dopt"] > value["random"] + 0.3
    many = [log_det_information(D[Random(random_state=s).select(D, batch_size=6)]) for s in range(20)]
    assert value["dopt"] > max(many)


def test_pool_leverage_is_the_gradient_of_the_reference_log_det():
    """Parity with the reference rule: score_i = d/dw_i log det(sum_j w_j v_j d_j d_j^T + 1e-6 I)
    at w = 1 (past-aware adds the labelled information), top-B in one shot."""
    D = _anisotropic_pool(40, 4, 7)
    past = _anisotropic_pool(6, 4, 8)
    for past_aware in (False, True):
        base = 0.25 * past.T @ past if past_aware else 0.0

        def logdet(w, base=base):
            return np.linalg.slogdet((D * (0.25 * w)[:, None]).T @ D + 1e-6 * np.eye(4) + base)[1]

        eps = 1e-6
        grad = np.array(
            [(logdet(np.ones(40) + eps * e) - logdet(np.ones(40) - eps * e)) / (2 * eps) for e in np.eye(40)]
        )
        picks = PoolLeverage(past_aware=past_aware, random_state=0).select(D, labelled=past, batch_size=5)
        assert picks.tolist() == np.argsort(-grad)[:5].tolist()


def test_uncertainty_and_max_difference_read_the_head():
    rng = np.random.RandomState(0)
    w = np.array([2.0, -1.0, 0.5])
    D = rng.standard_normal((100, 3))
    head = BTLinear(standardize=False, alpha=1e-3).fit(
        D[:50] * np.sign(D[:50] @ w)[:, None], np.zeros((50, 3))
    )
    gap = np.abs(D @ head.coef_)
    assert set(Uncertainty().select(D, head=head, batch_size=5)) == set(np.argsort(gap)[:5])
    assert set(MaxDifference().select(D, head=head, batch_size=5)) == set(np.argsort(-gap)[:5])


def test_non_linear_head_uses_a_linear_head_on_the_labels():
    rng = np.random.RandomState(0)
    D = rng.standard_normal((80, 4))
    labelled = D[:30] * np.sign(D[:30, 0])[:, None]
    mlp = BTMLP(max_epochs=3, random_state=0).fit(labelled, np.zeros_like(labelled))
    linear = BTLinear().fit(labelled, np.zeros_like(labelled))
    a = DOptimal(random_state=0).select(D, labelled=labelled, head=mlp, batch_size=5)
    b = DOptimal(random_state=0).select(D, labelled=labelled, head=linear, batch_size=5)
    assert a.tolist() == b.tolist()
    with pytest.raises(DataError, match="not linear"):
        DOptimal().select(D, head=mlp, batch_size=5)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_contract(name):
    rng = np.random.RandomState(1)
    D = rng.standard_normal((60, 5)).astype(np.float32)
    D[3] = 0.0  # a self pair
    labelled = np.vstack([D[10], -D[11], D[12]])  # already labelled, either orientation
    head = BTLinear().fit(labelled, np.zeros_like(labelled))
    strategy = STRATEGIES[name](random_state=0)
    picks = strategy.select(D, labelled=labelled, head=head, batch_size=50)
    assert len(picks) == 50 == len(set(picks.tolist()))
    assert not {3, 10, 11, 12} & set(picks.tolist())
    again = clone(strategy).select(D, labelled=labelled, head=head, batch_size=50)
    assert picks.tolist() == again.tolist()  # same inputs and seed: same picks
    with pytest.raises(DataError, match="larger than the 56 candidates"):
        strategy.select(D, labelled=labelled, head=head, batch_size=57)
    with pytest.raises(DataError, match="empty"):
        strategy.select(np.zeros((0, 5)), batch_size=1)
    if strategy._uses_head:
        with pytest.raises(EncoderMismatchError, match="5-dimensional"):
            strategy.select(D, head=BTLinear().fit(D[:5, :4], D[5:10, :4]), batch_size=2)
    with pytest.raises(DataError, match="labelled has 4 features"):
        strategy.select(D, labelled=D[:2, :4], batch_size=2)


def test_memory_stays_linear_in_the_pool():
    """No (M, d, d) tensor: passes over the pool go in chunks, so the peak stays a small
    multiple of the pool itself (an (M, d, d) tensor would be 32 times the pool)."""
    import tracemalloc

    D = _anisotropic_pool(150_000, 32, 9).astype(np.float32)
    tracemalloc.start()
    DOptimal(random_state=0).select(D, labelled=D[:100], batch_size=20)
    PoolLeverage(past_aware=True, random_state=0).select(D, labelled=D[:100], batch_size=20)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 3 * D.nbytes


def test_dopt_recovers_a_planted_reward_with_fewer_labels():
    """Planted linear reward (embrm.testing), labels revealed on request: after 60 labels
    (10 random, then 5 batches of 10) the head's direction is closer to the planted one
    with D-optimal batches than with random ones, on every seed."""
    from embrm.testing import make_preference_pairs

    cosine = {"dopt": [], "random": []}
    for seed in range(3):
        planted = make_preference_pairs(1000, 16, beta=4.0, random_state=seed)
        D = planted.X_win - planted.X_lose  # labelled orientation
        flip = np.where(np.random.RandomState(seed).rand(len(D)) < 0.5, 1.0, -1.0)
        for name, strategy in (("dopt", DOptimal(random_state=seed)), ("random", Random(random_state=seed))):
            rows = list(np.random.RandomState(seed).choice(len(D), 10, replace=False))
            for _ in range(5):
                head = BTLinear(alpha=1.0).fit(D[rows], np.zeros((len(rows), 16)))
                rows += list(strategy.select(D * flip[:, None], labelled=D[rows], head=head, batch_size=10))
            coef = BTLinear(alpha=1.0).fit(D[rows], np.zeros((len(rows), 16))).coef_
            cosine[name].append(coef @ planted.coef / np.linalg.norm(coef))
    assert all(d > r for d, r in zip(cosine["dopt"], cosine["random"], strict=True))
    assert np.mean(cosine["dopt"]) > np.mean(cosine["random"]) + 0.05
