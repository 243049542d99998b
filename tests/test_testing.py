"""embrm.testing: the planted data makers and the head contract's named checks, each of
which must fail on a head that breaks it (and only on it)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from embrm.active import STRATEGIES, BaseStrategy, DOptimal, Random, default_strategy
from embrm.active._strategies import _PromptCap
from embrm.exceptions import DataError
from embrm.heads import BTMLP, DRM, HEADS, BTLinear, ClassifierHead, Ensemble, LGBMHead
from embrm.heads._linear import LINEAR_ALPHA, LINEAR_MAX_ITER, LINEAR_TOL
from embrm.testing import (
    _seeded,
    check_head,
    check_strategy,
    head_checks,
    make_preference_pairs,
    make_scored_responses,
    parametrize_with_checks,
    strategy_checks,
)

# Small settings (400 pairs): each head with its default family and fast options.
SMALL_HEADS = {
    "bt-linear": BTLinear(alpha=10.0),
    "bt-mlp": BTMLP(hidden_layer_sizes=(16,), alpha=4.0, batch_size=32, max_epochs=30, random_state=0),
    "classifier": ClassifierHead(random_state=0),
    "classifier-mlp": ClassifierHead(model="mlp", mlp_alpha=8.0, hidden_layer_sizes=(16,), random_state=0),
    "lgbm": LGBMHead(n_estimators=20, random_state=0),
    "lgbm-pairwise": LGBMHead(objective="pairwise", n_estimators=20, random_state=0),
    "ensemble": Ensemble(BTLinear(alpha=10.0), n_members=3, random_state=0),
    "drm": DRM(n_components=5),
}


def test_every_registered_head_is_checked():
    assert {type(h) for h in SMALL_HEADS.values()} == set(HEADS.values())


@parametrize_with_checks(list(SMALL_HEADS.values()))
def test_every_head_keeps_the_contract(head, check):
    check(head)


@parametrize_with_checks([cls() for cls in HEADS.values()])
def test_every_registered_head_with_its_defaults_keeps_the_contract(head, check):
    check(head)


def test_checks_are_named_one_test_id_each():
    names = [name for name, _ in head_checks(BTLinear())]
    assert names == list(CHECKS)
    mark = parametrize_with_checks([BTLinear(), BTLinear(alpha=10.0)])
    ids = [p.id for p in mark.args[1]]
    assert len(ids) == len(set(ids)) == 2 * len(CHECKS)
    assert ids[0] == "BTLinear()-init_stores_parameters"
    assert ids[-1] == "BTLinear(alpha=10.0)-dimension_check"


def test_checks_seed_the_random_state_themselves():
    # Unseeded, two fits of BTMLP differ; the checks set random_state (nested ones too).
    head = BTMLP(hidden_layer_sizes=(8,), max_epochs=5)
    dict(head_checks(head))["deterministic"](head)
    assert head.random_state is None  # the head itself is left as it is
    ensemble = Ensemble(BTMLP(hidden_layer_sizes=(8,), max_epochs=5), n_members=2)
    dict(head_checks(ensemble))["deterministic"](ensemble)
    assert _seeded(ensemble, 7).get_params()["base__random_state"] == 7


# Heads that each break one check of the contract (and keep every other).
class _SetsAttributeInInit(BTLinear):
    def __init__(self, alpha=LINEAR_ALPHA, standardize=True, tol=LINEAR_TOL, max_iter=LINEAR_MAX_ITER):
        super().__init__(alpha, standardize, tol, max_iter)
        self.history = []


class _NoFitCheck(BTLinear):
    def _check_fitted(self, method):
        pass


class _FitReturnsNone(BTLinear):
    def fit(self, *args, **kwargs):
        super().fit(*args, **kwargs)


class _RecordsAnotherEncoder(BTLinear):
    def fit(self, *args, **kwargs):
        super().fit(*args, **kwargs)
        self.encoder_id_ = "other"
        return self


class _ClonesFitted(BTLinear):
    def __sklearn_clone__(self):
        return copy.deepcopy(self)


class _InfiniteReward(BTLinear):
    def reward(self, X):
        reward = super().reward(X)
        if len(reward) > 4:  # beyond the four rows load() probes a head with
            reward[np.argmax(np.asarray(X).sum(axis=1))] = np.inf
        return reward


class _ScoreIgnoresWeights(BTLinear):
    def score(self, X_win, X_lose, sample_weight=None):
        return super().score(X_win, X_lose)


class _Constant(BTLinear):
    def _reward(self, X):
        return np.zeros(len(X))


class _Backwards(BTLinear):
    def _reward(self, X):
        return -super()._reward(X)


class _HalfProbability(BTLinear):
    def predict_proba(self, X_a, X_b):
        return 0.5 * super().predict_proba(X_a, X_b)


class _Unseeded(BTLinear):
    def _fit(self, *args):
        super()._fit(*args)
        self.coef_ = self.coef_ + np.random.rand(self.coef_.size) * 1e-9


class _SavesAnotherHead(BTLinear):
    def save(self, path):
        coef = self.coef_
        self.coef_ = 2.0 * coef
        try:
            super().save(path)
        finally:
            self.coef_ = coef


class _NoDimensionCheck(BTLinear):
    def _check_X(self, X, method, name="X"):
        self._check_fitted(method)
        return np.asarray(X, dtype=np.float64)


CHECKS = {
    "init_stores_parameters": _SetsAttributeInInit,
    "use_before_fit": _NoFitCheck,
    "fit_returns_self": _FitReturnsNone,
    "fit_records_input": _RecordsAnotherEncoder,
    "clone_is_unfitted": _ClonesFitted,
    "reward_is_finite_float64": _InfiniteReward,
    "score_is_pairwise_accuracy": _ScoreIgnoresWeights,
    "recovers_planted_reward": _Backwards,
    "predict_proba_is_probability": _HalfProbability,
    "deterministic": _Unseeded,
    "save_load_round_trip": _SavesAnotherHead,
    "dimension_check": _NoDimensionCheck,
}


def _failed(checks, estimator) -> dict[str, str]:
    """The named checks ``estimator`` fails, with their messages."""
    failed = {}
    for name, check in checks(estimator):
        try:
            check(estimator)
        except AssertionError as exc:
            failed[name] = str(exc)
    return failed


def _failed_checks(head):
    """The head checks ``head`` fails, with their messages."""
    return _failed(head_checks, head)


@pytest.mark.parametrize(
    ("check", "broken"),
    [*CHECKS.items(), ("recovers_planted_reward", _Constant)],
    ids=[*CHECKS, "recovers_planted_reward-constant"],
)
def test_a_broken_head_fails_exactly_the_check_it_breaks(check, broken, monkeypatch):
    monkeypatch.setitem(HEADS, "broken", broken)  # registered, as a new head must be to load
    failed = _failed_checks(broken(alpha=10.0))
    assert list(failed) == [check]
    assert failed[check].startswith(f"{broken.__name__} fails '{check}': ")
    with pytest.raises(AssertionError, match=f"fails '{check}'"):
        check_head(broken(alpha=10.0))


def test_failure_messages_say_what_is_wrong(monkeypatch):
    for i, broken in enumerate([*CHECKS.values(), _Constant]):
        monkeypatch.setitem(HEADS, f"broken-{i}", broken)
    assert _failed_checks(_Constant())["recovers_planted_reward"].endswith("the rewards are constant")
    assert _failed_checks(_Backwards())["recovers_planted_reward"].endswith(" < 0.65")
    message = _failed_checks(_SetsAttributeInInit())["init_stores_parameters"]
    assert message.endswith("changes the parameters [] or sets the attributes ['history']")
    assert (
        "'reward' on an unfitted head raised AttributeError"
        in _failed_checks(_NoFitCheck())["use_before_fit"]
    )
    message = _failed_checks(_RecordsAnotherEncoder())["fit_records_input"]
    assert message.endswith("(n_features_in_, encoder_id_) is (32, 'other'), not (32, 'check')")
    assert _failed_checks(_InfiniteReward())["reward_is_finite_float64"].endswith(
        ": 1 rewards are not finite"
    )


def test_planted_pairs_have_the_asked_noise_and_groups():
    clean = make_preference_pairs(2000, 16, beta=None, random_state=0)
    assert clean.label_error_rate == 0.0
    noisy = make_preference_pairs(2000, 16, n_groups=7, beta=1.0, random_state=0)
    # beta=1 on unit-variance differences: P(error) = E[sigmoid(-|margin|)] = 0.33
    assert 0.3 < noisy.label_error_rate < 0.36
    assert set(noisy.groups.tolist()) == set(range(7))
    assert np.linalg.norm(noisy.coef) == pytest.approx(1.0)


def test_planted_pairs_over_given_rows_use_those_rows():
    X = np.random.RandomState(0).standard_normal((50, 4))
    pairs = make_preference_pairs(100, X=X, random_state=0)
    rows = {tuple(r) for r in X}
    assert all(tuple(r) in rows for r in pairs.X_win)
    assert not (pairs.X_win == pairs.X_lose).all(axis=1).any()


def test_scored_responses_carry_a_planted_order():
    data, X = make_scored_responses(n_prompts=4, n_responses=5, random_state=0)
    assert len(data) == 20 and X.shape == (20, 16)
    assert data.groups.tolist() == np.repeat(np.arange(4), 5).tolist()


# -- active strategies ---------------------------------------------------------------------------

STRATEGY_CHECK_NAMES = [
    "init_stores_parameters",
    "clone_round_trip",
    "returns_distinct_eligible_rows",
    "deterministic",
    "respects_max_per_prompt",
    "refuses_bad_input",
    "designs_cover_more_than_random",
]


@pytest.mark.parametrize(
    ("strategy", "check"),
    [
        pytest.param(strategy, check, id=f"{name}-{check_name}")
        for name, strategy in [
            *((n, cls()) for n, cls in STRATEGIES.items()),
            ("default", default_strategy()),
        ]
        for check_name, check in strategy_checks(strategy)
    ],
)
def test_every_registered_strategy_with_its_defaults_keeps_the_contract(strategy, check):
    check(strategy)


def test_strategy_checks_are_named():
    assert [name for name, _ in strategy_checks(Random())] == STRATEGY_CHECK_NAMES


# Strategies that each break one check of the contract (and keep every other).
class _StrategySetsAttribute(Random):
    def __init__(self, random_state=None):
        super().__init__(random_state)
        self.history = []


class _ClonesOtherParameters(DOptimal):
    def __sklearn_clone__(self):
        return type(self)(prior_strength=2 * self.prior_strength)


class _PicksASelfPair(Random):
    def _pick(self, candidates, k, rng):
        return np.concatenate([[5], super()._pick(candidates, k, rng)[: k - 1]]).astype(np.int64)


class _UnseededStrategy(Random):
    def _pick(self, candidates, k, rng):
        return super()._pick(candidates, k, np.random.RandomState())


class _IgnoresTheCap(DOptimal):
    def _choose(self, candidates, cap, k, rng):
        return super()._choose(candidates, _PromptCap(None, None), k, rng)


class _Lenient(Random):
    """Returns a smaller batch instead of refusing one larger than the pool."""

    def select(self, D_pool, labelled=None, head=None, batch_size=10, **kwargs):
        try:
            return super().select(D_pool, labelled, head, batch_size, **kwargs)
        except DataError as exc:
            if "larger than" not in str(exc):
                raise
            return super().select(D_pool, labelled, head, 1, **kwargs)


class _OneDirection(DOptimal):
    """A 'design' that asks the largest first coordinates (within the prompt cap)."""

    def _choose(self, candidates, cap, k, rng):
        order = np.argsort(-np.where(candidates.eligible, candidates.D[:, 0], -np.inf), kind="stable")
        return cap.take(order, k)


BROKEN_STRATEGIES = {
    "init_stores_parameters": _StrategySetsAttribute,
    "clone_round_trip": _ClonesOtherParameters,
    "returns_distinct_eligible_rows": _PicksASelfPair,
    "deterministic": _UnseededStrategy,
    "respects_max_per_prompt": _IgnoresTheCap,
    "refuses_bad_input": _Lenient,
    "designs_cover_more_than_random": _OneDirection,
}


def _failed_strategy_checks(strategy):
    """The strategy checks ``strategy`` fails, with their messages."""
    return _failed(strategy_checks, strategy)


@pytest.mark.parametrize(("check", "broken"), BROKEN_STRATEGIES.items(), ids=list(BROKEN_STRATEGIES))
def test_a_broken_strategy_fails_exactly_the_check_it_breaks(check, broken):
    failed = _failed_strategy_checks(broken())
    assert list(failed) == [check]
    assert failed[check].startswith(f"{broken.__name__} fails '{check}': ")
    with pytest.raises(AssertionError, match=f"fails '{check}'"):
        check_strategy(broken())


def test_every_strategy_check_is_shown_to_fail():
    assert list(BROKEN_STRATEGIES) == STRATEGY_CHECK_NAMES


def test_strategy_failure_messages_say_what_is_wrong():
    class _NoRandomState(BaseStrategy):
        def __init__(self):
            pass

        def _measure(self, candidates):
            return candidates.sq

    assert _failed_strategy_checks(_NoRandomState())["clone_round_trip"].endswith(
        "it has no random_state parameter"
    )
    assert _failed_strategy_checks(_PicksASelfPair())["returns_distinct_eligible_rows"].endswith(
        "picked [5]: a self pair or an already labelled pair"
    )
    assert _failed_strategy_checks(_IgnoresTheCap())["respects_max_per_prompt"].startswith(
        "_IgnoresTheCap fails 'respects_max_per_prompt': max_per_prompt=1, batch of 20: prompt counts "
    )
    assert _failed_strategy_checks(_Lenient())["refuses_bad_input"].endswith(
        "a batch larger than the 117 candidates raised no DataError"
    )
    message = _failed_strategy_checks(_OneDirection())["designs_cover_more_than_random"]
    assert message.endswith("a batch of 6 covers 1 of 6 planted directions, random batches 2.05")
