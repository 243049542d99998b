"""Strategies against brute-force references where the main tests leave a choice open:
k-center's farthest-point picks, the designs' outcome variances, ties and defaults."""

from __future__ import annotations

import itertools
import os
import warnings
from fractions import Fraction

import numpy as np
import pytest
from _vopt_reference import vopt_greedy_reference

from embrm.active import (
    STRATEGIES,
    DOptimal,
    KCenter,
    MaxDifference,
    PoolLeverage,
    Random,
    Uncertainty,
    VOptimal,
    _strategies,
)
from embrm.active._strategies import (
    _greedy,
    _quadratic_form,
    eligible_mask,
    information_matrix,
    linear_margins,
    log_det_information,
    squared_norms,
)
from embrm.exceptions import DataError, EncoderMismatchError
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
    picks = KCenter(random_state=0).select(D, labelled=labelled, batch_size=8)
    assert picks.tolist() == _brute_force_k_center(D, labelled, None, 8)


def test_k_center_without_labels_starts_at_random_then_goes_farthest():
    D = _pool(50, 3, 2)
    firsts = set()
    for seed in range(8):
        picks = KCenter(random_state=seed).select(D, batch_size=6)
        assert picks.tolist() == _brute_force_k_center(D, None, int(picks[0]), 6)
        firsts.add(int(picks[0]))
    assert len(firsts) >= 4  # the first pick is random, not always the same row


def test_k_center_first_pick_with_labels_is_not_random():
    D = _pool(40, 3, 3)
    labelled = _pool(4, 3, 4)
    picks = {int(KCenter(random_state=s).select(D, labelled=labelled, batch_size=1)[0]) for s in range(6)}
    assert picks == {_brute_force_k_center(D, labelled, None, 1)[0]}


def test_k_center_breaks_ties_at_random_at_every_pick():
    # Three unit pairs around one labelled centre: every pick is a tie (each pair's nearest
    # distance stays 1), so the seeds give every order, not the lowest index after the first.
    D, labelled = np.eye(3), np.zeros((1, 3))
    orders = {tuple(KCenter(random_state=s).select(D, labelled=labelled, batch_size=3).tolist())
              for s in range(30)}
    assert orders == set(itertools.permutations(range(3)))


@pytest.mark.parametrize("strategy", [Uncertainty, MaxDifference])
def test_gap_strategies_without_a_head_pick_at_random(strategy):
    D = _pool(30, 3, 5)
    batches = {tuple(strategy(random_state=s).select(D, batch_size=4).tolist()) for s in range(5)}
    assert len(batches) == 5 and all(len(set(b)) == 4 for b in batches)


def test_gap_strategies_exact_top_k_at_every_batch_size():
    D = _pool(25, 3, 6)
    oriented = D[:10] * np.sign(D[:10, 0])[:, None]
    head = BTLinear(standardize=False, alpha=1e-3).fit(oriented, np.zeros((10, 3)))
    gap = np.abs(D @ head.coef_)
    for k in (1, 2, 24, 25):
        low = Uncertainty(random_state=0).select(D, head=head, batch_size=k).tolist()
        assert low == np.argsort(gap)[:k].tolist()
        top = MaxDifference(random_state=0).select(D, head=head, batch_size=k).tolist()
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
        strategy = PoolLeverage(past_aware=past_aware, random_state=0)
        picks = strategy.select(D, labelled=past, head=head, batch_size=40)
        assert picks.tolist() == np.argsort(-score).tolist()  # the whole ranking, row 0 included
        if not past_aware:  # the default
            default = PoolLeverage(random_state=0).select(D, labelled=past, head=head, batch_size=40)
            assert default.tolist() == picks.tolist()


def test_vopt_uses_the_labels_variances_under_a_confident_head():
    D = _pool(60, 5, 10) * np.array([2.0, 1.0, 0.5, 0.3, 0.1])
    labelled = D[:3] * np.sign(D[:3, 0])[:, None]
    head = _confident_head(D, labelled)
    chosen = vopt_greedy_reference(D, labelled, head.coef_, prior_strength=0.1, batch_size=4)
    picks = VOptimal(random_state=0).select(D, labelled=labelled, head=head, batch_size=4)
    assert picks.tolist() == chosen


def test_vopt_breaks_exact_ties_at_random():
    D = np.repeat(np.eye(3), 10, axis=0)  # ten copies of each direction: exact ties
    firsts = {int(VOptimal(random_state=s).select(D, batch_size=1)[0]) for s in range(10)}
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
    firsts = {int(DOptimal(random_state=s).select(D, batch_size=1)[0]) for s in range(10)}
    assert len(firsts) >= 4


class _LinearHead:
    """A fitted linear head with a chosen direction (``reward(x) = coef_ @ x``)."""

    def __init__(self, coef):
        self.coef_ = np.asarray(coef, dtype=np.float64)
        self.n_features_in_ = self.coef_.size

    def reward(self, X):
        return np.asarray(X) @ self.coef_


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_passes_in_chunks_pick_what_one_pass_picks(name, monkeypatch):
    D = _pool(23, 3, 13)
    D[5] = 0.0  # a self pair
    labelled = _pool(6, 3, 14)
    labelled[0] = -D[9]  # an already labelled pair, in the other sign
    head = _LinearHead([0.5, -1.0, 0.25])
    strategy = STRATEGIES[name](random_state=0)
    whole = strategy.select(D, labelled=labelled, head=head, batch_size=7)
    monkeypatch.setattr(_strategies, "CHUNK", 4)
    chunked = strategy.select(D, labelled=labelled, head=head, batch_size=7)
    assert chunked.tolist() == whole.tolist()
    assert 5 not in whole and 9 not in whole
    few = labelled[:2]  # fewer labelled pairs than features: the Woodbury path
    monkeypatch.setattr(_strategies, "CHUNK", 32768)
    whole = strategy.select(D, labelled=few, head=head, batch_size=7)
    monkeypatch.setattr(_strategies, "CHUNK", 4)
    assert strategy.select(D, labelled=few, head=head, batch_size=7).tolist() == whole.tolist()


def test_helpers_in_chunks_equal_the_direct_computation(monkeypatch):
    monkeypatch.setattr(_strategies, "CHUNK", 4)
    D = _pool(23, 3, 15)
    w = np.linspace(0.1, 1.0, 23)
    A = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 3.0]])
    np.testing.assert_allclose(squared_norms(D), (D**2).sum(axis=1), rtol=1e-12)
    expected = 0.5 * np.eye(3) + (D * w[:, None]).T @ D
    np.testing.assert_allclose(information_matrix(D, w, 0.5), expected, rtol=1e-12)
    np.testing.assert_allclose(_quadratic_form(D, A), np.einsum("ij,jk,ik->i", D, A, D), rtol=1e-12)
    margin_pool, margin_lab = linear_margins(_LinearHead([1.0, 2.0, -1.0]), D, D[:6])
    np.testing.assert_allclose(margin_pool, D @ [1.0, 2.0, -1.0], rtol=1e-12)
    np.testing.assert_allclose(margin_lab, D[:6] @ [1.0, 2.0, -1.0], rtol=1e-12)
    bad = D.copy()
    bad[21, 1] = np.nan
    with pytest.raises(DataError, match="^D_pool row 21 holds NaN or infinity"):
        _strategies._check_values(bad, "D_pool")
    bad[21, 1] = 3e6
    with pytest.raises(DataError, match="^D_pool row 21 holds the value 3e\\+06"):
        _strategies._check_values(bad, "D_pool")


def test_quadratic_form_of_a_float32_pool_is_taken_in_float32():
    # A float32 pool keeps its temporaries in float32 (half the memory): the product with A
    # is the float32 one, exactly.
    D = _pool(50, 4, 16, np.float32)
    A = np.random.RandomState(17).standard_normal((4, 4))
    A = A @ A.T
    expected = np.einsum("ij,ij->i", D @ A.astype(np.float32), D)
    np.testing.assert_array_equal(_quadratic_form(D, A), expected.astype(np.float64))


def _tied_pool():
    """Thirty copies of two orthogonal unit directions: every candidate ties exactly."""
    return np.repeat(np.eye(3)[1:], 15, axis=0)


@pytest.mark.parametrize("seed", range(6))
def test_exact_ties_go_to_the_largest_seeded_jitter(seed):
    # The designs and k-center multiply their scores by 1 + 1e-12 * u, u the first uniform
    # draws of random_state: among exact ties the largest u wins.
    D = _tied_pool()
    expected = int(np.argmax(np.random.RandomState(seed).uniform(size=len(D))))
    assert DOptimal(random_state=seed).select(D, batch_size=1)[0] == expected
    assert VOptimal(random_state=seed).select(D, batch_size=1)[0] == expected
    labelled = np.eye(3)[:1]  # every candidate is at the same distance from it
    assert KCenter(random_state=seed).select(D, labelled=labelled, batch_size=1)[0] == expected


def test_near_ties_within_the_jitter_follow_it():
    # k-center breaks only exact ties at random: a candidate farther by a relative 7e-13 wins
    # at every seed (a jitter of 1e-12 would let the nearer one win at some).
    D = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0 + 7e-13]])
    labelled = np.eye(3)[:1]
    assert {int(KCenter(random_state=seed).select(D, labelled=labelled, batch_size=1)[0])
            for seed in range(40)} == {1}
    # V-optimal: scores v q / (1 + v h) with A = 0.1 I, P = D'D / 2, v = 1/4.
    D = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0 + 2.7e-13]])
    P = D.T @ D / 2
    h = np.einsum("ij,ij->i", D, D) / 0.1
    q = np.einsum("ij,jk,ik->i", D, P, D) / 0.1**2
    score = 0.25 * q / (1.0 + 0.25 * h)
    outcomes = set()
    for seed in range(40):
        u = np.random.RandomState(seed).uniform(size=2)
        expected = int(np.argmax(score * (1.0 + 1e-12 * u)))
        assert VOptimal(random_state=seed).select(D, batch_size=1)[0] == expected
        outcomes.add(expected)
    assert outcomes == {0, 1}


@pytest.mark.parametrize("seed", range(3))
def test_a_whole_pool_of_ties_comes_back_in_the_seeded_random_order(seed):
    # Uncertainty without a head: every gap is 0; the batch of all candidates is the eligible
    # rows in the order of the seeded permutation.
    D = _pool(40, 3, 18)
    D[7] = 0.0
    eligible = np.flatnonzero(np.arange(40) != 7)
    expected = eligible[np.random.RandomState(seed).permutation(39)]
    assert Uncertainty(random_state=seed).select(D, batch_size=39).tolist() == expected.tolist()


def test_ties_in_a_ranking_keep_the_seeded_random_order():
    # Five distinct gaps, eight candidates each: ranked by gap, ties in permutation order.
    D = np.repeat(np.arange(1.0, 6.0)[:, None] * np.array([[1.0, 0.0]]), 8, axis=0)
    head = _LinearHead([1.0, 0.0])
    for seed in range(3):
        order = np.random.RandomState(seed).permutation(40)
        gap = np.abs(D[:, 0])
        expected = order[np.argsort(-gap[order], kind="stable")]
        picks = MaxDifference(random_state=seed).select(D, head=head, batch_size=40)
        assert picks.tolist() == expected.tolist()


def test_k_center_absorbs_every_block_of_labelled_pairs():
    # 1,100 labelled pairs are absorbed in blocks of 1,024: the one at row 1,024 covers D[0].
    D = _pool(30, 3, 19)
    D[0] *= 5.0  # far from the others: the first pick unless a labelled pair covers it
    labelled = 50.0 + _pool(1100, 3, 20)
    labelled[1024] = 1.001 * D[0]
    picks = KCenter(random_state=0).select(D, labelled=labelled, batch_size=3)
    assert picks.tolist() == _brute_force_k_center(D, labelled, None, 3)
    assert 0 not in picks


def test_labelled_384_dimensional_pairs_are_matched_without_warnings():
    D = _pool(60, 384, 21)
    labelled = np.vstack([-D[3], D[40]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        eligible = eligible_mask(D, labelled)
    assert np.flatnonzero(~eligible).tolist() == [3, 40]


def test_log_det_information_takes_weights_as_any_numbers():
    D = _pool(12, 3, 22)
    assert log_det_information(D, [Fraction(1, 4)] * 12) == pytest.approx(log_det_information(D))


def test_shortlist_refresh_with_few_rows_outside_it_keeps_picking():
    # 4,098 candidates, a shortlist of 4,096: after two picks along e1 and e2 every shortlisted
    # gain falls below the one left outside, and the refresh must still exclude the two picked.
    rng = np.random.RandomState(23)
    D = np.zeros((4098, 3))
    D[:2048, 0] = 10.0 + 0.01 * rng.uniform(size=2048)
    D[2048:4096, 1] = 10.0 + 0.01 * rng.uniform(size=2048)
    D[4096:, 2] = [1.0, 0.9]
    picks = DOptimal(random_state=0).select(D, batch_size=3)
    assert int(np.argmax(D[:2048, 0])) in picks and 2048 + int(np.argmax(D[2048:4096, 1])) in picks
    assert picks[2] == 4096


def test_every_error_message_in_full():
    D = _pool(20, 3, 24)
    dopt = DOptimal()
    with pytest.raises(DataError, match=r"^D_pool must be numbers \(one row per pair\), got dtype <U1\.$"):
        dopt.select(np.full((3, 2), "a"))
    with pytest.raises(
        DataError,
        match=r"^labelled must be a 2-d array of shape \(n_pairs, n_features\), got shape \(3,\)\.$",
    ):
        dopt.select(D, labelled=np.ones(3))
    with pytest.raises(
        DataError,
        match=r"^D_pool is empty: there are no candidate pairs to choose from\. Build a pool with "
        r"embrm\.active\.within_prompt_pool \(at least two different answers to one prompt\)\.$",
    ):
        dopt.select(np.zeros((0, 3)))
    dopt.select(D, labelled=np.zeros((0, 3)), batch_size=1)  # no labelled pairs yet: allowed
    bad = D.copy()
    bad[4, 2] = np.inf
    with pytest.raises(
        DataError,
        match=r"^D_pool row 4 holds NaN or infinity; embedding differences must be finite\. Embed the "
        r"responses again \(and check the head or pairs they came from\)\.$",
    ):
        dopt.select(bad)
    bad[4, 2] = -2.5e6
    with pytest.raises(
        DataError,
        match=r"^D_pool row 4 holds the value 2\.5e\+06; embedding differences must stay below 1e\+06 in "
        r"size \(those of unit-length embeddings are at most 2\)\. Pass differences of embeddings, not raw "
        r"features\.$",
    ):
        dopt.select(bad)
    bad[4, 2] = 1e6  # the bound itself is allowed
    dopt.select(bad, batch_size=1)
    with pytest.raises(
        DataError, match=r"^D_pool holds NaN or infinite values; embed the responses again\.$"
    ):
        squared_norms(np.array([[1.0, np.nan]]))
    with pytest.raises(DataError, match=r"^X holds NaN or infinite values"):
        squared_norms(np.array([[1.0, np.inf]]), name="X")
    with pytest.raises(
        DataError,
        match=r"^labelled has 2 features but D_pool has 3: both must be differences of embeddings from the "
        r"same encoder\.$",
    ):
        dopt.select(D, labelled=D[:2, :2])
    for bad_size in (0, 2.0, "3"):
        with pytest.raises(DataError, match=rf"^batch_size must be a positive integer, got {bad_size!r}\.$"):
            dopt.select(D, batch_size=bad_size)
    assert len(dopt.select(D, batch_size=1)) == 1
    D[7] = 0.0
    with pytest.raises(
        DataError,
        match=r"^batch_size=19 is larger than the 18 candidates that can still be chosen \(2 of 20 are self "
        r"pairs or already labelled\): lower the budget or build a larger pool\.$",
    ):
        dopt.select(D, labelled=D[[3]], batch_size=19)
    assert len(dopt.select(D, labelled=D[[3]], batch_size=18)) == 18


class _Unfitted:
    pass


class _Curved(_LinearHead):
    """Not linear: a reward that bends."""

    def reward(self, X):
        return np.asarray(X) @ self.coef_ + np.square(np.asarray(X)).sum(axis=1)


def test_head_errors_in_full():
    D = _pool(20, 3, 25)
    with pytest.raises(
        DataError, match=r"^The head _Unfitted is not fitted; fit it on the labelled pairs first\.$"
    ):
        linear_margins(_Unfitted(), D, None)
    with pytest.raises(
        EncoderMismatchError,
        match=r"^The pool has 3-dimensional differences but the head was fitted on 2 features: embed the "
        r"pool with the encoder the head was trained with\.$",
    ):
        linear_margins(_LinearHead([1.0, 2.0]), D, None)
    message = (
        r"^_Curved is not linear: its Fisher information is taken on a linear Bradley-Terry head fitted on "
        r"the labelled pairs, so pass at least two labelled differences \(preferred minus other\), or pass "
        r"a BTLinear head\.$"
    )
    with pytest.raises(DataError, match=message):
        linear_margins(_Curved([1.0, 0.0, 0.0]), D, D[:1])
    with pytest.raises(DataError, match=message):
        linear_margins(_Curved([1.0, 0.0, 0.0]), D, None)
    margin_pool, margin_lab = linear_margins(_Curved([1.0, 0.0, 0.0]), D, D[:2])  # two are enough
    coef = BTLinear().fit(D[:2], np.zeros((2, 3))).coef_
    np.testing.assert_allclose(margin_pool, D @ coef, rtol=1e-12)
    np.testing.assert_allclose(margin_lab, D[:2] @ coef, rtol=1e-12)
    assert linear_margins(None, D, D[:2]) == (None, None)


def test_greedy_without_finite_gains_says_so():
    D = _pool(5, 2, 26)
    with pytest.raises(RuntimeError, match=r"^greedy selection ran out of finite gains$"):
        _greedy(D, np.full(5, 0.25), np.full(5, -np.inf), np.eye(2), 1)


def test_pools_of_other_number_types_are_read_as_float64():
    D = _pool(20, 3, 27)
    half, labelled = D.astype(np.float16), D[:2].astype(np.float16)
    as_int = np.round(10 * D).astype(np.int64)
    for strategy in (DOptimal(random_state=0), KCenter(random_state=0)):
        expected = strategy.select(half.astype(np.float64), labelled=labelled)
        assert strategy.select(half, labelled=labelled).tolist() == expected.tolist()
        expected = strategy.select(as_int.astype(np.float64), batch_size=4)
        assert strategy.select(as_int, batch_size=4).tolist() == expected.tolist()
    with pytest.raises(DataError, match=r"^D_pool must be numbers \(one row per pair\), got dtype bool\.$"):
        DOptimal().select(D > 0)


def test_first_row_checks_default_batch_and_linearity_probe():
    D = _pool(20, 3, 28)
    bad = D.copy()
    bad[0, 0] = np.nan
    with pytest.raises(DataError, match=r"^D_pool row 0 holds NaN or infinity"):
        DOptimal().select(bad)
    assert len(DOptimal(random_state=0).select(D)) == 10  # batch_size defaults to 10

    class _LinearOnTheFirstEight(_LinearHead):
        def reward(self, X):
            X = np.asarray(X)
            return X @ self.coef_ + 5.0 * (X[:, 0] > 50.0)

    # The linearity check probes the first eight candidates: a head that bends only beyond
    # them is read as linear.
    far = D.copy()
    far[8, 0] = 60.0
    margin_pool, _ = linear_margins(_LinearOnTheFirstEight([1.0, 0.0, 0.0]), far, None)
    np.testing.assert_allclose(margin_pool, far[:, 0], rtol=1e-12)


def test_top_is_the_exact_top_k_at_every_k():
    # numpy sorts small partitions whole; 1,200 candidates go through its selection algorithm.
    for n, ks in ((40, range(1, 38)), (1200, (1, 2, 3, 400, 1197))):
        score = np.random.RandomState(29).permutation(n).astype(float)  # distinct scores
        eligible = np.ones(n, dtype=bool)
        eligible[[3, 17]] = False
        ranked = [i for i in np.argsort(-score) if eligible[i]]
        for seed in range(3):
            for k in ks:
                picks = _strategies._top(score, eligible, k, np.random.RandomState(seed))
                assert picks.tolist() == ranked[:k]


def test_the_shortlist_keeps_its_last_row_and_the_threshold_is_the_best_outside_it():
    # 4,095 parallel differences along e1 (gains near 250, near 1 once one is picked), one
    # along e2 (gain 2), one along e3 (gain 0.5) and two small ones: the shortlist is the top
    # 4,096, the threshold the gain of the 4,097th. After the first e1 pick the e2 row must
    # come next, although the other e1 rows still beat the threshold.
    D = np.zeros((4099, 3))
    D[:4095, 0] = 10.0 + 0.001 * np.arange(4095)
    D[4095, 1] = np.sqrt(0.8)
    D[4096, 2] = np.sqrt(0.2)
    D[4097:, 2] = [0.2, 0.1]
    picks = DOptimal(prior_strength=0.1, random_state=0).select(D, batch_size=2)
    assert picks.tolist() == [4094, 4095]


class _WithIntercept(_LinearHead):
    """A linear head with an intercept: differences cancel it."""

    def reward(self, X):
        return np.asarray(X) @ self.coef_ + 3.0


def test_heads_with_an_intercept_are_linear_and_strategies_without_a_head_ignore_it():
    D = _pool(20, 3, 30)
    margin_pool, _ = linear_margins(_WithIntercept([1.0, 2.0, -1.0]), D, None)
    np.testing.assert_allclose(margin_pool, D @ [1.0, 2.0, -1.0], rtol=1e-12)
    expected = Random(random_state=0).select(D, batch_size=3)
    assert Random(random_state=0).select(D, head=_Unfitted(), batch_size=3).tolist() == expected.tolist()
    with pytest.raises(ValueError, match=r"^The 'prior_strength' parameter of DOptimal must be"):
        DOptimal(prior_strength=0.0).select(D)


def test_a_pool_without_features_has_no_candidates():
    with pytest.raises(
        DataError, match=r"^batch_size=1 is larger than the 0 candidates that can still be chosen"
    ):
        DOptimal().select(np.zeros((5, 0)), batch_size=1)


def test_random_state_at_select_is_deprecated_and_overrides_the_constructors():
    D = _pool(40, 3, 31)
    strategy = Random(random_state=1)
    with pytest.warns(DeprecationWarning) as caught:
        old = strategy.select(D, batch_size=5, random_state=None)  # None given is given
    assert str(caught[0].message) == (
        "Random.select(random_state=...) is deprecated and will be removed in the next release: pass it to "
        "the constructor, Random(random_state=...) (given here, it overrides the constructor's)."
    )
    if "MUTANT_UNDER_TEST" not in os.environ:  # mutmut's trampolines add a frame to every call
        assert caught[0].filename == __file__  # the warning points at the caller
    with pytest.warns(DeprecationWarning):
        assert strategy.select(D, batch_size=5, random_state=4).tolist() == (
            Random(random_state=4).select(D, batch_size=5).tolist()
        )
    assert len(old) == 5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first = strategy.select(D, batch_size=5)
        assert strategy.select(D, batch_size=5).tolist() == first.tolist()  # an int seed: every call
    rng = np.random.RandomState(7)
    shared = Random(random_state=rng)
    a, b = shared.select(D, batch_size=5), shared.select(D, batch_size=5)
    again = np.random.RandomState(7)
    assert a.tolist() == Random(random_state=again).select(D, batch_size=5).tolist()
    assert b.tolist() == Random(random_state=again).select(D, batch_size=5).tolist()  # one stream
    with pytest.raises(
        ValueError, match=r"^The 'random_state' parameter of KCenter must be an int in the range"
    ):
        KCenter(random_state=-1).select(D)


def test_seeded_keeps_a_strategys_own_seed_and_seeds_one_without():
    from sklearn.base import clone

    own = DOptimal(random_state=3)
    assert _strategies.seeded(own, 5) is own
    unseeded = VOptimal(normalize="unit")
    seeded = _strategies.seeded(unseeded, 5)
    assert seeded is not unseeded and unseeded.random_state is None
    assert seeded.get_params() == VOptimal(normalize="unit", random_state=5).get_params()
    assert _strategies.seeded(unseeded, 0).random_state == 0  # a 0 seed is a seed

    class _Old(_strategies.BaseStrategy):  # a strategy written before random_state
        def __init__(self):
            pass

        def _measure(self, candidates):
            return candidates.sq

    old = _Old()
    assert _strategies.seeded(old, 5) is old
    assert _Old().select(np.diag([1.0, 3.0, 2.0]), batch_size=2).tolist() == [
        1,
        2,
    ]  # no random_state: selects
    assert clone(DOptimal(random_state=2)).random_state == 2


def test_select_queries_seeds_only_a_strategy_without_a_seed():
    from embrm.active import select_queries, within_prompt_pool
    from embrm.testing import make_scored_responses

    data, X = make_scored_responses(n_prompts=6, n_responses=5, random_state=0)
    pool = within_prompt_pool(data, random_state=0)

    def ids(**kwargs):
        return select_queries(pool, X, 6, **kwargs)["pair_id"].to_list()

    assert ids(strategy=Random(), random_state=3) == ids(strategy=Random(random_state=3), random_state=9)
    assert ids(strategy="random", random_state=3) == ids(strategy=Random(random_state=3))
    assert ids(strategy="random", random_state=3) != ids(strategy="random", random_state=4)


class _CappedMaxDifference(MaxDifference):
    """A one-shot strategy with the designs' per-prompt cap and random share."""

    def __init__(self, max_per_prompt=None, random_share=0.0, random_state=None):
        self.max_per_prompt = max_per_prompt
        self.random_share = random_share
        self.random_state = random_state


class _CappedRandom(Random):
    def __init__(self, max_per_prompt=None, random_state=None):
        self.max_per_prompt = max_per_prompt
        self.random_state = random_state


def test_the_shared_top_k_keeps_the_prompt_cap_for_one_shot_measures():
    # Gaps 1..30 by row; prompts of three rows. With at most one pair per prompt the batch is
    # the best row of each prompt, best first; without a cap, the top rows whatever their prompt.
    D = np.c_[np.arange(1.0, 31.0), np.zeros(30)]
    head = _LinearHead([1.0, 0.0])
    groups = np.repeat(np.arange(10), 3)
    picks = _CappedMaxDifference(max_per_prompt=1, random_state=0).select(
        D, head=head, batch_size=4, groups=groups
    )
    assert picks.tolist() == [29, 26, 23, 20]
    two = _CappedMaxDifference(max_per_prompt=2, random_state=0).select(
        D, head=head, batch_size=4, groups=groups
    )
    assert two.tolist() == [29, 28, 26, 25]
    assert _CappedMaxDifference(random_state=0).select(
        D, head=head, batch_size=4, groups=groups
    ).tolist() == [
        29,
        28,
        27,
        26,
    ]
    mixed = _CappedMaxDifference(max_per_prompt=1, random_share=0.5, random_state=3).select(
        D, head=head, batch_size=6, groups=groups
    )
    assert np.bincount(groups[mixed]).max() == 1 and len(set(mixed.tolist())) == 6
    for seed in range(4):  # no measure: the seeded order, one pair per prompt
        order = np.random.RandomState(seed).permutation(30)
        firsts = [int(i) for i in order if i == order[groups[order] == groups[i]][0]][:10]
        capped = _CappedRandom(max_per_prompt=1, random_state=seed).select(D, batch_size=10, groups=groups)
        assert capped.tolist() == firsts


class _CappedKCenter(KCenter):
    """k-center with the designs' per-prompt cap."""

    def __init__(self, max_per_prompt=None, random_state=None):
        self.max_per_prompt = max_per_prompt
        self.random_state = random_state


def test_k_center_keeps_the_prompt_cap_of_the_shared_pick():
    D = _pool(60, 3, 32)
    labelled = _pool(4, 3, 33)
    groups = np.repeat(np.arange(12), 5)
    for cap in (1, 2):
        picks = _CappedKCenter(max_per_prompt=cap, random_state=0).select(
            D, labelled=labelled, batch_size=10, groups=groups
        )
        chosen, centres = [], list(labelled)
        for _ in range(10):  # farthest point among the prompts not yet full
            cs = np.array(centres)
            dist = np.minimum(
                ((D[:, None, :] - cs[None]) ** 2).sum(axis=2), ((D[:, None, :] + cs[None]) ** 2).sum(axis=2)
            ).min(axis=1)
            dist[chosen] = -np.inf
            dist[
                np.isin(groups, [g for g in set(groups[chosen]) if (groups[chosen] == g).sum() >= cap])
            ] = -np.inf
            chosen.append(int(np.argmax(dist)))
            centres.append(D[chosen[-1]])
        assert picks.tolist() == chosen
        assert np.bincount(groups[picks]).max() == cap
    plain = KCenter(random_state=0).select(D, labelled=labelled, batch_size=10, groups=groups)
    assert np.bincount(groups[plain]).max() > 1  # the cap is what spreads the batch


@pytest.mark.parametrize("cls", [DOptimal, VOptimal])
@pytest.mark.parametrize("normalize", ["unit", "cap"])
@pytest.mark.parametrize("with_labels", [True, False])
def test_normalized_designs_pick_what_they_pick_on_the_rescaled_pool(cls, normalize, with_labels):
    rs = np.random.RandomState(7)
    D = _pool(40, 3, 8) * rs.uniform(0.2, 5.0, size=(40, 1))
    labelled = _pool(6, 3, 9) * rs.uniform(0.2, 5.0, size=(6, 1))
    if not with_labels:
        labelled = None

    def rescaled(X, limit):
        norm = np.sqrt((X**2).sum(axis=1, keepdims=True))
        return X / norm if normalize == "unit" else X * np.minimum(1.0, limit / norm)

    limit = float(np.median(np.sqrt((D**2).sum(axis=1))))
    picks = cls(normalize=normalize, random_state=0).select(D, labelled=labelled, batch_size=6)
    reference = cls(normalize="none", random_state=0).select(
        rescaled(D, limit), labelled=None if labelled is None else rescaled(labelled, limit), batch_size=6
    )
    assert picks.tolist() == reference.tolist()
    unscaled = cls(normalize="none", random_state=0).select(D, labelled=labelled, batch_size=6)
    assert picks.tolist() != unscaled.tolist()  # the rescaling matters on this pool


@pytest.mark.parametrize("normalize", ["unit", "cap"])
def test_normalized_float32_pool_reaches_the_greedy_in_float32(normalize, monkeypatch):
    seen = []
    greedy = _strategies._greedy

    def spy(D, *args):
        seen.append(D.dtype)
        return greedy(D, *args)

    monkeypatch.setattr(_strategies, "_greedy", spy)
    D = _pool(30, 3, 10, np.float32)
    labelled = _pool(2, 3, 11, np.float32)
    DOptimal(normalize=normalize, random_state=0).select(D, labelled=labelled, batch_size=3)
    assert seen == [np.dtype(np.float32)]


def test_groups_of_the_wrong_length_name_the_candidate_pairs():
    with pytest.raises(
        DataError,
        match=r"^groups must have shape \(20,\), one group id \(e\.g\. prompt id\) per candidate pair; "
        r"got shape \(19,\)\.$",
    ):
        DOptimal(max_per_prompt=1).select(_pool(20, 3, 24), batch_size=2, groups=np.arange(19))


def test_ties_under_a_prompt_cap_keep_the_seeded_random_order():
    # Prompts of two rows, gaps 1 and 2, one pair per prompt: each prompt's gap-2 row, the
    # thirty tied rows in the seeded permutation's order (a sort that is not stable reorders them).
    gap = 1.0 + np.arange(60) % 2
    D = np.c_[gap, np.zeros(60)]
    groups = np.repeat(np.arange(30), 2)
    for seed in range(3):
        order = np.random.RandomState(seed).permutation(60)
        picks = _CappedMaxDifference(max_per_prompt=1, random_state=seed).select(
            D, head=_LinearHead([1.0, 0.0]), batch_size=30, groups=groups
        )
        assert picks.tolist() == [int(i) for i in order if gap[i] == 2.0]


def test_pool_leverage_keeps_its_seed():
    assert PoolLeverage(random_state=3).get_params()["random_state"] == 3


def test_unit_rescaling_leaves_a_zero_row_zero():
    for _ in range(3):
        np.full(64, 7.0).sum()  # memory a fresh output array could reuse holds no zeros
        scale = _strategies.rescale_differences(np.array([0.0, 4.0, 0.0, 0.25]), "unit")
        assert scale.tolist() == [0.0, 0.5, 0.0, 2.0]
