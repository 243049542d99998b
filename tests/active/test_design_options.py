"""The designs' options that temper the pool's geometry (normalize, max_norm, weighting,
max_per_prompt, random_share): planted pools, closed forms and brute-force references."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from embrm.active import DOptimal, VOptimal
from embrm.active._strategies import norm_limit, posterior_outcome_variance, rescale_differences
from embrm.exceptions import DataError


class _Linear:
    """A fitted linear head with a given direction (reward ``X @ coef_``)."""

    def __init__(self, coef):
        self.coef_ = np.asarray(coef, dtype=np.float64)
        self.n_features_in_ = len(self.coef_)

    def reward(self, X):
        return np.asarray(X) @ self.coef_


def _planted(seed=0, n=200, d=6, n_long=4, length=100.0):
    """Unit-length differences plus ``n_long`` of length ``length`` (rows 0..n_long-1)."""
    rng = np.random.RandomState(seed)
    D = rng.standard_normal((n, d))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    D[:n_long] *= length
    return D


def _greedy_reference(D, v, prior_strength, k, L=None, v_lab=None, groups=None, cap=None):
    """Greedy D-optimal picks by direct recomputation of every gain (no downdates)."""
    d = D.shape[1]
    A = prior_strength * np.eye(d)
    if L is not None:
        A += (L * v_lab[:, None]).T @ L
    chosen, count = [], {}
    for _ in range(k):
        A_inv = np.linalg.inv(A)
        gain = v * np.einsum("ij,jk,ik->i", D, A_inv, D)
        gain[chosen] = -np.inf
        if groups is not None:
            full = [g for g, c in count.items() if c >= cap]
            gain[np.isin(groups, full)] = -np.inf
        i = int(np.argmax(gain))
        chosen.append(i)
        if groups is not None:
            count[groups[i]] = count.get(groups[i], 0) + 1
        A += v[i] * np.outer(D[i], D[i])
    return chosen


# -- normalize -------------------------------------------------------------------------------
def test_plain_dopt_asks_the_long_differences_and_normalised_designs_do_not():
    D = _planted()
    long = {0, 1, 2, 3}
    assert set(DOptimal(random_state=0).select(D, batch_size=4).tolist()) == long
    for options in ({"normalize": "unit"}, {"normalize": "cap", "max_norm": 1.0}, {"normalize": "cap"}):
        picks = DOptimal(**options, random_state=0).select(D, batch_size=4).tolist()
        assert len(long & set(picks)) <= 1, options


def test_unit_normalisation_is_dopt_on_unit_rows_labelled_rows_too():
    rng = np.random.RandomState(1)
    D = rng.standard_normal((60, 4)) * rng.uniform(0.1, 20.0, size=(60, 1))
    L = rng.standard_normal((5, 4)) * rng.uniform(0.1, 20.0, size=(5, 1))
    unit = D / np.linalg.norm(D, axis=1, keepdims=True)
    L_unit = L / np.linalg.norm(L, axis=1, keepdims=True)
    picks = DOptimal(normalize="unit", random_state=0).select(D, labelled=L, batch_size=6).tolist()
    assert picks == DOptimal(random_state=0).select(unit, labelled=L_unit, batch_size=6).tolist()
    assert picks == _greedy_reference(unit, np.full(60, 0.25), 0.1, 6, L_unit, np.full(5, 0.25))
    assert picks != DOptimal(random_state=0).select(D, labelled=L, batch_size=6).tolist()


@pytest.mark.parametrize("strategy", [DOptimal, VOptimal])
def test_cap_is_the_design_on_capped_rows(strategy):
    rng = np.random.RandomState(2)
    D = rng.standard_normal((50, 3)) * rng.uniform(0.1, 10.0, size=(50, 1))
    L = rng.standard_normal((4, 3)) * 5.0
    norm, L_norm = np.linalg.norm(D, axis=1), np.linalg.norm(L, axis=1)
    capped = D * np.minimum(1.0, 2.0 / norm)[:, None]
    L_capped = L * np.minimum(1.0, 2.0 / L_norm)[:, None]
    picks = strategy(normalize="cap", max_norm=2.0, random_state=0).select(D, labelled=L, batch_size=5)
    assert picks.tolist() == strategy(random_state=0).select(capped, labelled=L_capped, batch_size=5).tolist()


def test_rescale_factors_closed_form():
    sq = np.array([25.0, 0.0, 1.0, 4.0, 100.0])  # lengths 5, 0, 1, 2, 10
    assert rescale_differences(sq, "none").tolist() == [1.0] * 5
    np.testing.assert_allclose(rescale_differences(sq, "unit"), [0.2, 0.0, 1.0, 0.5, 0.1])
    np.testing.assert_allclose(rescale_differences(sq, "cap", 2.0), [0.4, 1.0, 1.0, 1.0, 0.2])  # 2 is kept
    np.testing.assert_allclose(rescale_differences(sq, "cap", 3.0), [0.6, 1.0, 1.0, 1.0, 0.3])


def test_norm_limit_is_max_norm_or_the_median_eligible_length():
    sq = np.array([25.0, 0.0, 1.0, 4.0, 100.0])
    assert norm_limit(sq, np.array([True, False, True, True, False]), None) == 2.0  # median of 5, 1, 2
    assert norm_limit(sq, np.array([True, True, True, False, True]), None) == 3.0  # of 5, 0, 1, 10
    assert norm_limit(sq, np.ones(5, bool), 7.5) == 7.5


def test_default_cap_is_the_median_length_of_the_candidates_that_can_be_chosen():
    rng = np.random.RandomState(12)
    D = rng.standard_normal((40, 3)) * rng.uniform(0.1, 10.0, size=(40, 1))
    D[:15] = 0.0  # self pairs: not candidates, and not in the median
    L = D[20:24] * -1.0  # already labelled (either sign): not candidates either
    eligible = np.ones(40, bool)
    eligible[:15] = eligible[20:24] = False
    median = float(np.median(np.linalg.norm(D[eligible], axis=1)))
    picks = DOptimal(normalize="cap", random_state=0).select(D, labelled=L, batch_size=5).tolist()
    expected = DOptimal(normalize="cap", max_norm=median, random_state=0).select(D, labelled=L, batch_size=5)
    assert picks == expected.tolist()


def test_normalised_designs_keep_the_heads_margins_of_the_raw_rows():
    D = np.array([[10.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
    head = _Linear([0.5, 0.0])  # raw margins 5, 0, 0.35; unit rows' would be 0.5, 0, 0.35
    unit = D / np.linalg.norm(D, axis=1, keepdims=True)
    v = expit(D @ head.coef_) * (1 - expit(D @ head.coef_))
    picks = DOptimal(normalize="unit", random_state=0).select(D, head=head, batch_size=2).tolist()
    assert picks == _greedy_reference(unit, v, 0.1, 2) == [1, 2]


# -- weighting -------------------------------------------------------------------------------
def test_posterior_outcome_variance_closed_form():
    h = np.array([0.0, 8.0 / np.pi, 24.0 / np.pi, 0.0])
    m = np.array([1.0, 0.0, 2.0, -3.0])
    v = posterior_outcome_variance(m, h)
    np.testing.assert_allclose(v[[0, 3]], expit(m[[0, 3]]) * (1 - expit(m[[0, 3]])))  # no spread
    assert v[1] == pytest.approx(0.25 / np.sqrt(2.0))  # kappa = 1/sqrt(2), p = 1/2
    p = expit(2.0 / 2.0)
    assert v[2] == pytest.approx(0.5 * p * (1 - p))  # kappa = 1/2
    np.testing.assert_allclose(posterior_outcome_variance(None, h), 0.25 / np.sqrt(1 + np.pi * h / 8))


@pytest.mark.parametrize(("m", "h"), [(0.0, 1.0), (1.5, 2.0), (-2.0, 4.0), (3.0, 0.5)])
def test_posterior_outcome_variance_is_the_expected_fisher_weight(m, h):
    z = np.random.RandomState(0).standard_normal(400_000)
    p = expit(m + np.sqrt(h) * z)
    exact = float((p * (1 - p)).mean())
    assert posterior_outcome_variance(np.array([m]), np.array([h]))[0] == pytest.approx(exact, rel=0.04)


def test_posterior_weighting_changes_the_pick_as_its_closed_form_says():
    D = np.array([[1.5, 0.0], [0.0, 1.0]])
    head = _Linear([2.0, 0.0])  # margins 3 and 0
    h = (D**2).sum(axis=1) / 0.1
    m = D @ head.coef_
    v_head = expit(m) * (1 - expit(m))
    v_post = posterior_outcome_variance(m, h)
    assert np.argmax(v_head * h) == 1 and np.argmax(v_post * h) == 0
    assert DOptimal().select(D, head=head, batch_size=1).tolist() == [1]
    assert DOptimal(weighting="posterior").select(D, head=head, batch_size=1).tolist() == [0]
    assert VOptimal(weighting="posterior").select(D, head=head, batch_size=1).tolist() == [0]


def test_posterior_weighting_is_greedy_on_the_posterior_weights():
    rng = np.random.RandomState(3)
    D = rng.standard_normal((40, 3)) * rng.uniform(0.2, 5.0, size=(40, 1))
    head = _Linear([1.0, -0.5, 0.2])
    v = posterior_outcome_variance(D @ head.coef_, (D**2).sum(axis=1) / 0.1)
    picks = DOptimal(weighting="posterior", random_state=0).select(D, head=head, batch_size=5).tolist()
    assert picks == _greedy_reference(D, v, 0.1, 5)


# -- max_per_prompt ----------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", [DOptimal, VOptimal])
def test_prompt_cap_is_respected_exactly(strategy):
    D = _planted(4, n=120, n_long=6, length=30.0)
    groups = np.repeat(np.arange(20), 6)  # prompt 0 holds the six long rows
    plain = strategy(random_state=0).select(D, batch_size=6, groups=groups)
    assert (groups[plain] == 0).sum() >= 3
    for cap in (1, 2):
        picks = strategy(max_per_prompt=cap, random_state=0).select(D, batch_size=12, groups=groups)
        counts = np.bincount(groups[picks], minlength=20)
        assert counts.max() == cap and counts[0] == cap and len(set(picks.tolist())) == 12


def test_prompt_cap_is_the_greedy_with_full_prompts_blocked_also_past_the_shortlist():
    rng = np.random.RandomState(5)
    D = rng.standard_normal((5000, 4)) * rng.uniform(0.2, 3.0, size=(5000, 1))
    groups = rng.randint(0, 400, size=5000)
    picks = DOptimal(max_per_prompt=1, random_state=0).select(D, batch_size=40, groups=groups).tolist()
    assert picks == _greedy_reference(D, np.full(5000, 0.25), 0.1, 40, groups=groups, cap=1)
    assert len(set(groups[picks])) == 40


def test_prompt_cap_needs_groups_and_enough_prompts():
    D = _planted(6, n=30)
    groups = np.repeat(np.arange(3), 10)
    with pytest.raises(DataError, match="pass groups"):
        DOptimal(max_per_prompt=1).select(D, batch_size=2)
    with pytest.raises(DataError, match=r"max_per_prompt=2 pairs per prompt allow \(6 candidates\)"):
        DOptimal(max_per_prompt=2).select(D, batch_size=7, groups=groups)
    assert len(DOptimal(max_per_prompt=2).select(D, batch_size=6, groups=groups)) == 6
    with pytest.raises(DataError, match="groups must have shape"):
        DOptimal().select(D, batch_size=2, groups=groups[:5])


# -- random_share --------------------------------------------------------------------------------
@pytest.mark.parametrize(("share", "n_random"), [(0.0, 0), (0.25, 2), (0.35, 4), (0.5, 5), (1.0, 10)])
def test_random_share_draws_its_count_from_the_seeded_rng_then_designs_the_rest(share, n_random):
    rng = np.random.RandomState(7)
    D = rng.standard_normal((80, 5)) * rng.uniform(0.5, 5.0, size=(80, 1))  # no ties
    D[5] = 0.0  # a self pair: never drawn
    eligible = np.flatnonzero(np.linalg.norm(D, axis=1) > 0)
    picks = DOptimal(random_share=share, random_state=11).select(D, batch_size=10).tolist()
    assert (
        picks[:n_random] == eligible[np.random.RandomState(11).permutation(len(eligible))][:n_random].tolist()
    )
    if n_random < 10:
        rest = DOptimal(random_state=0).select(
            D, labelled=D[picks[:n_random]] if n_random else None, batch_size=10 - n_random
        )
        assert picks[n_random:] == rest.tolist()
    assert len(picks) == len(set(picks)) == 10


def test_random_share_counts_its_picks_as_information_under_the_head():
    D = _planted(8, n=60, d=4)
    head = _Linear([0.3, -0.2, 0.1, 0.0])
    L = D[40:43]
    picks = DOptimal(random_share=0.5, random_state=3).select(D, labelled=L, head=head, batch_size=6).tolist()
    rest = DOptimal(random_state=0).select(D, labelled=np.vstack([L, D[picks[:3]]]), head=head, batch_size=3)
    assert picks[3:] == rest.tolist()
    head_only = DOptimal(random_share=0.5, random_state=3).select(D, head=head, batch_size=4).tolist()
    rest = DOptimal(random_state=0).select(D, labelled=D[head_only[:2]], head=head, batch_size=2)
    assert head_only[2:] == rest.tolist()


def test_random_picks_are_never_asked_again_in_the_same_batch():
    D = np.random.RandomState(13).standard_normal((10, 2))
    for seed in range(5):
        picks = DOptimal(random_share=0.5, random_state=seed).select(D, batch_size=10).tolist()
        assert sorted(picks) == list(range(10))


def test_random_share_respects_the_prompt_cap():
    D = _planted(9, n=40)
    groups = np.repeat(np.arange(20), 2)
    for seed in range(5):
        picks = DOptimal(random_share=0.6, max_per_prompt=1, random_state=seed).select(
            D, batch_size=20, groups=groups
        )
        assert np.bincount(groups[picks]).max() == 1


# -- parameters ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "options",
    [
        {"normalize": "l2"},
        {"max_norm": 0.0, "normalize": "cap"},
        {"max_norm": -1.0, "normalize": "cap"},
        {"weighting": "mean"},
        {"max_per_prompt": 0},
        {"max_per_prompt": 1.5},
        {"random_share": -0.1},
        {"random_share": 1.01},
    ],
)
def test_bad_options_are_clear_errors(options):
    with pytest.raises(ValueError, match=f"The '{next(iter(options))}' parameter of DOptimal"):
        DOptimal(**options).select(_planted(), batch_size=2, groups=np.zeros(200))


def test_max_norm_without_cap_is_an_error():
    with pytest.raises(ValueError, match="max_norm=1.0 is read only with normalize='cap'"):
        VOptimal(normalize="unit", max_norm=1.0).select(_planted(), batch_size=2)
    assert len(DOptimal(normalize="cap", max_norm=1e6).select(_planted(), batch_size=2)) == 2


def test_option_errors_say_exactly_what_to_change():
    D, groups = _planted(14, n=30), np.repeat(np.arange(3), 10)
    with pytest.raises(DataError) as err:
        DOptimal(max_per_prompt=1).select(D, batch_size=2)
    assert str(err.value) == (
        "max_per_prompt needs the prompt of every candidate: pass groups (one prompt id per row of "
        "D_pool, e.g. pool.frame['prompt_id_a'])."
    )
    with pytest.raises(DataError) as err:
        VOptimal(max_per_prompt=1).select(D, batch_size=4, groups=groups)
    assert str(err.value) == (
        "batch_size=4 is more than max_per_prompt=1 pairs per prompt allow (3 candidates): raise "
        "max_per_prompt or lower the budget."
    )
    with pytest.raises(ValueError) as err:
        DOptimal(max_norm=2.0).select(D, batch_size=2)
    assert str(err.value) == (
        "max_norm=2.0 is read only with normalize='cap' (got normalize='none'): drop max_norm or set "
        "normalize='cap'."
    )


def test_prompt_cap_holds_after_the_shortlist_is_refreshed():
    # five blocks of long rows along five axes fill the shortlist; once each is drained the
    # picks come from a refreshed shortlist, where the five full prompts must stay blocked
    rng = np.random.RandomState(15)
    D = rng.standard_normal((5000, 8)) * 0.01
    for b in range(5):
        D[b * 860 : (b + 1) * 860, b] += 3.0 - 0.1 * b
    D[4300:] += rng.standard_normal((700, 8))
    groups = rng.randint(0, 20, size=5000)
    picks = DOptimal(max_per_prompt=1, random_state=0).select(D, batch_size=15, groups=groups).tolist()
    assert picks == _greedy_reference(D, np.full(5000, 0.25), 0.1, 15, groups=groups, cap=1)
    assert len(set(groups[picks])) == 15


def test_the_default_strategy_is_vopt_on_unit_differences():
    from embrm.active import DEFAULT_STRATEGY, default_strategy

    assert DEFAULT_STRATEGY == ("vopt", {"normalize": "unit"})
    strategy = default_strategy()
    assert isinstance(strategy, VOptimal) and strategy.get_params() == VOptimal(normalize="unit").get_params()
    assert default_strategy() is not strategy
