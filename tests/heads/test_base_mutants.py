"""BaseHead's shared code against direct computations: messages, weights, pairs objects,
feature scales, temperatures and the single-threaded context."""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np
import polars as pl
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from embrm.embed import EmbeddingArray
from embrm.exceptions import DataError, NotFittedError
from embrm.heads import BTLinear, ClassifierHead, Ensemble, _base
from embrm.heads._base import BaseHead, feature_scale, fit_temperature, single_threaded


class _Recorder(BaseHead):
    """A head that records what ``_fit`` was given and the BLAS threads it ran with."""

    _min_pairs = 2

    def _fit(self, X_win, X_lose, sample_weight, groups):
        self.seen_ = (X_win, X_lose, sample_weight, groups)
        self.threads_ = sorted({pool["num_threads"] for pool in threadpool_info()})
        self.coef_ = np.ones(X_win.shape[1])

    def _reward(self, X):
        return X @ self.coef_


def test_single_threaded_limits_every_pool_to_one_thread_and_restores_it():
    with threadpool_limits(2):
        before = sorted({pool["num_threads"] for pool in threadpool_info()})
        with single_threaded():
            assert {pool["num_threads"] for pool in threadpool_info()} == {1}
        with single_threaded():  # the controller is built once, then reused
            assert {pool["num_threads"] for pool in threadpool_info()} == {1}
        assert sorted({pool["num_threads"] for pool in threadpool_info()}) == before
        head = _Recorder().fit(np.eye(3), np.zeros((3, 3)))
        assert head.threads_ == [1]
    assert 2 in before  # the check above is not vacuous


def test_fit_passes_validated_arrays_and_records_the_encoder():
    X_win, X_lose = np.eye(3), np.zeros((3, 3))
    head = _Recorder().fit(X_win.tolist(), X_lose, [1.0, 2.0, 3.0], groups=[7, 7, 8], encoder_id="enc")
    seen_win, seen_lose, weight, groups = head.seen_
    np.testing.assert_array_equal(seen_win, X_win)
    np.testing.assert_array_equal(seen_lose, X_lose)
    np.testing.assert_array_equal(weight, [1.0, 2.0, 3.0])
    assert groups.tolist() == [7, 7, 8]
    assert (head.n_features_in_, head.encoder_id_) == (3, "enc")
    head = _Recorder().fit(X_win, X_lose)
    assert head.seen_[3] is None and head.encoder_id_ is None
    np.testing.assert_array_equal(head.seen_[2], np.ones(3))
    with pytest.raises(DataError, match=r"^_Recorder needs at least 2 pairs; got 1\.$"):
        _Recorder().fit(X_win[:1], X_lose[:1])
    _Recorder().fit(X_win[:2], X_lose[:2])  # two pairs are enough


def test_identical_pairs_message():
    with pytest.raises(
        DataError,
        match=r"^Every pair has identical embeddings for both responses: there is a single class and "
        r"no preference to learn\.$",
    ):
        BTLinear().fit(np.eye(3), np.eye(3))
    BTLinear().fit(np.eye(3), np.eye(3)[[0, 1, 0]])  # one pair that differs is enough


def test_centring_without_groups_warning_names_the_head_and_the_fix():
    rng = np.random.RandomState(0)
    X_win, X_lose = rng.standard_normal((2, 40, 3))
    with pytest.warns(UserWarning) as record:
        ClassifierHead(alpha=1.0, random_state=0).fit(X_win, X_lose)
    assert len(record) == 1 and record[0].category is UserWarning
    assert str(record[0].message) == (
        "ClassifierHead(center_by_group=True) centres each response within its prompt, but fit got "
        "no groups, so nothing is centred. Pass groups= (the prompt id of each pair), or set "
        "center_by_group=False."
    )
    with pytest.warns(UserWarning) as record:
        head = _CentringRecorder().fit(X_win, X_lose)
    assert (record[0].filename, record[0].lineno) == head.caller_  # reported where fit was called
    if "MUTANT_UNDER_TEST" not in os.environ:  # mutation testing adds frames outside embrm
        with pytest.warns(UserWarning, match="centres each response") as record:
            Ensemble(ClassifierHead(alpha=1.0), n_members=2, random_state=0).fit(X_win, X_lose)
        assert {w.filename for w in record} == {__file__}  # the caller's line, not the ensemble's
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ClassifierHead(alpha=1.0, center_by_group=False, random_state=0).fit(X_win, X_lose)
        ClassifierHead(alpha=1.0, random_state=0).fit(X_win, X_lose, groups=np.arange(40) // 4)
        BTLinear().fit(X_win, X_lose)  # a head that does not centre has nothing to warn about


def _frames_added(*functions) -> int:
    """Frames that wrappers add between a caller and these functions' bodies. Mutation
    testing (mutmut) wraps every function of the module it mutates: a wrapper that calls a
    trampoline that calls the body, two frames for each function wrapped."""
    return 2 * sum(hasattr(function, "__wrapped__") for function in functions)


class _CentringRecorder(_Recorder):
    """A head that centres by group and records the frame that called ``fit``'s body."""

    center_by_group = True

    def _fit(self, X_win, X_lose, sample_weight, groups):
        caller = sys._getframe(2)  # _fit <- fit's body <- fit's caller
        self.caller_ = (caller.f_code.co_filename, caller.f_lineno)
        super()._fit(X_win, X_lose, sample_weight, groups)


def _fake_module_call(depth: int, function, *args):
    """Call ``function(*args)`` from code whose module is named sklearn.pipeline, ``depth``
    ordinary frames above the call."""
    namespace = {"__name__": "sklearn.pipeline"}
    exec("def call(function, args):\n    return function(*args)\n", namespace)

    def nest(level):
        if level == 0:
            return function(*args)
        return nest(level - 1)

    return namespace["call"](lambda *a: nest(depth), args)


def test_a_pipeline_is_found_up_to_eight_frames_above_the_head():
    X_win, X_lose = np.eye(3), np.zeros((3, 3))
    message = (
        r"^BTLinear cannot be the last step of a scikit-learn Pipeline: the pipeline transforms X_win "
        r"only, and X_lose \(passed as y\) would reach the head untransformed\. Transform both arrays "
        r"yourself before fit and score \(heads standardise their features themselves with "
        r"standardize=True\)\.$"
    )
    with pytest.raises(DataError, match=message):
        _fake_module_call(0, BTLinear().fit, X_win, X_lose)
    head = BTLinear().fit(X_win, X_lose)
    # Frames 1 to 8 above fit or score are looked at.
    extra = _frames_added(_base._refuse_pipeline, BaseHead.score)
    with pytest.raises(DataError, match=message):
        _fake_module_call(5 - extra, head.score, X_win, X_lose)  # the pipeline's frame 8 above score
    assert _fake_module_call(6 - extra, head.score, X_win, X_lose) == 1.0  # 9 above: not looked at


def test_not_fitted_message():
    with pytest.raises(
        NotFittedError,
        match=r"^This BTLinear instance is not fitted yet: call 'fit' with pairs of embeddings before "
        r"'predict_proba'\.$",
    ):
        BTLinear().predict_proba(np.eye(2), np.eye(2))


def test_score_is_the_weighted_share_of_pairs_won():
    head = _Recorder().fit(np.eye(2), np.zeros((2, 2)))  # reward = sum of the features
    X_win = np.array([[2.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
    X_lose = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])  # won, lost, tied
    assert head.score(X_win, X_lose) == pytest.approx(1.5 / 3)
    assert head.score(X_win, X_lose, [3.0, 1.0, 2.0]) == pytest.approx(4.0 / 6.0)
    assert isinstance(head.score(X_win, X_lose), float)


def test_predict_proba_without_a_temperature_is_the_sigmoid_of_the_margin():
    head = BTLinear(standardize=False, alpha=1.0).fit(np.eye(3), np.zeros((3, 3)))
    assert not hasattr(head, "temperature_")
    X_a, X_b = np.eye(3)[[0, 1]], np.eye(3)[[2, 2]] * 3.0
    margin = X_a @ head.coef_ - X_b @ head.coef_
    np.testing.assert_allclose(head.predict_proba(X_a, X_b), 1 / (1 + np.exp(-margin)), rtol=1e-12)
    head.temperature_ = 2.0
    np.testing.assert_allclose(head.predict_proba(X_a, X_b), 1 / (1 + np.exp(-margin / 2.0)), rtol=1e-12)
    with pytest.raises(DataError, match=r"^X_a has shape \(2, 3\) but X_b has shape \(1, 3\)"):
        head.predict_proba(X_a, X_b[:1])


class _Encoder:
    identity = "enc/v1"

    def encode_responses(self, prompts, responses):
        rows = [[len(p), len(r), r.count("!")] for p, r in zip(prompts, responses, strict=True)]
        return np.array(rows, dtype=float)


class _Pairs:
    def __init__(self, frame):
        self.frame = frame


def test_fit_pairs_reads_groups_and_weights_from_the_frame():
    frame = pl.DataFrame(
        {
            "prompt": ["a", "bb", "a", "ccc", "bb"],
            "chosen": ["xxxx!", "yy", "zzz!!", "w", "vvvvvv"],
            "rejected": ["x", "yyy!", "z", "ww!", "v"],
        }
    )
    encoder = _Encoder()
    X_win = encoder.encode_responses(frame["prompt"].to_list(), frame["chosen"].to_list())
    X_lose = encoder.encode_responses(frame["prompt"].to_list(), frame["rejected"].to_list())
    head = _Recorder().fit_pairs(_Pairs(frame), encoder)
    np.testing.assert_array_equal(head.seen_[0], X_win)
    np.testing.assert_array_equal(head.seen_[1], X_lose)
    assert head.seen_[3].tolist() == [0, 1, 0, 2, 1]  # one group per distinct prompt
    np.testing.assert_array_equal(head.seen_[2], np.ones(5))
    assert head.encoder_id_ == "enc/v1"
    weighted = frame.with_columns(group=pl.Series([5, 5, 6, 6, 7]), weight=pl.Series([1.0, 2, 3, 4, 5]))
    head = _Recorder().fit_pairs(_Pairs(weighted), encoder)
    assert head.seen_[3].tolist() == [5, 5, 6, 6, 7]
    np.testing.assert_array_equal(head.seen_[2], [1.0, 2, 3, 4, 5])
    head = _Recorder().fit_pairs(_Pairs(weighted), encoder, sample_weight=np.full(5, 0.5))
    np.testing.assert_array_equal(head.seen_[2], np.full(5, 0.5))
    # prompts are told apart exactly, also when one ends in a NUL character
    nul = frame.with_columns(prompt=pl.Series(["p", "p\x00", "p", "q", "p\x00"]))
    assert _Recorder().fit_pairs(_Pairs(nul), encoder).seen_[3].tolist() == [0, 1, 0, 2, 1]
    with pytest.raises(DataError, match=r"^pairs\.frame lacks the column\(s\) \['chosen', 'prompt'\]\.$"):
        _Recorder().fit_pairs(_Pairs(frame.drop("prompt", "chosen")), encoder)


def test_feature_scale_is_the_weighted_spread_with_residue_left_at_one():
    rng = np.random.RandomState(0)
    X_win, X_lose = rng.standard_normal((2, 6, 4))
    X_win[:, 3] = X_lose[:, 3] = 0.0  # no spread at all
    s = np.array([1.0, 2, 3, 4, 5, 6]) / 21
    mean = 0.5 * (s @ X_win + s @ X_lose)
    expected = np.sqrt(0.5 * (s @ (X_win - mean) ** 2 + s @ (X_lose - mean) ** 2))
    expected[3] = 1.0
    np.testing.assert_allclose(feature_scale(X_win, X_lose, s), expected, rtol=1e-12)
    # A spread of 1e-9 against features of size 1 is residue in float32, not in float64.
    X_win[:, 3] += 1e-9 * np.arange(6)
    tiny = feature_scale(X_win, X_lose, s)[3]
    assert 0 < tiny < 1e-8
    as32 = feature_scale(X_win.astype(np.float32), X_lose.astype(np.float32), s.astype(np.float32))
    assert as32[3] == 1.0
    # at exactly the threshold (eps times the whole vector's spread, here 2) a feature is residue
    eps = np.finfo(np.float64).eps
    X = np.zeros((2, 2))
    X[0, 0], X[1, 0] = 2.0, -2.0
    X[0, 1], X[1, 1] = 2 * eps, -2 * eps
    scale = feature_scale(X, -X, np.array([0.5, 0.5]))
    assert scale[0] == 2.0 and scale[1] == 1.0
    X[:, 1] *= 2.0
    assert feature_scale(X, -X, np.array([0.5, 0.5]))[1] == pytest.approx(4 * eps)


def test_fit_temperature_is_bounded_to_exp_plus_minus_ten():
    assert fit_temperature(np.full(20, 1e-4), np.ones(20)) == pytest.approx(np.exp(-10.0), rel=1e-3)
    assert fit_temperature(np.full(20, -3.0), np.ones(20)) == pytest.approx(np.exp(10.0), rel=1e-3)
    # weights count: 3 wins at margin 1 weighted 1 and 1 loss weighted 3 vs unweighted
    margin = np.array([1.0, 1.0, 1.0, -1.0])
    # P(win) = sigmoid(1 / T) = 3/4 when the weights are equal, 1/2 when the loss weighs 3
    assert fit_temperature(margin, np.ones(4)) == pytest.approx(1 / np.log(3.0), rel=1e-4)
    assert fit_temperature(margin, np.array([1.0, 1.0, 1.0, 3.0])) == pytest.approx(np.exp(10.0), rel=1e-3)
    margin = np.array([2.0, 2.0, 2.0, -2.0])
    assert fit_temperature(margin, np.ones(4)) == pytest.approx(2 / np.log(3.0), rel=1e-4)


class _Column(_Recorder):
    """A head whose ``_reward`` returns a column."""

    def _reward(self, X):
        return (X @ self.coef_)[:, None]


def test_reward_is_one_number_per_row_and_input_errors_name_the_argument():
    head = _Column().fit(np.eye(3), np.zeros((3, 3)))
    assert head.reward(np.eye(3) * 2.0).tolist() == [2.0, 2.0, 2.0]
    good, bad = np.eye(3), np.eye(3)
    bad[1, 2] = np.nan
    calls = {
        "X": lambda: head.reward(bad),
        "X_win": lambda: head.score(bad, good),
        "X_lose": lambda: head.score(good, bad),
        "X_a": lambda: head.predict_proba(bad, good),
        "X_b": lambda: head.predict_proba(good, bad),
    }
    for name, call in calls.items():
        with pytest.raises(DataError, match=rf"^{name} contains NaN or infinity in 1 row"):
            call()


def test_fit_errors_name_the_head_and_the_arrays():
    with pytest.raises(ValueError, match=r"^The 'alpha' parameter of BTLinear must be"):
        BTLinear(alpha=-1.0).fit(np.eye(3), np.zeros((3, 3)))
    X_win = EmbeddingArray(np.eye(3), "enc-a")
    X_lose = EmbeddingArray(np.zeros((3, 3)), "enc-b")
    with pytest.raises(
        DataError,
        match=r"^The arrays come from different encoders \(X_win from 'enc-a', X_lose from 'enc-b'\): embed "
        r"every response with the same encoder\.$",
    ):
        BTLinear().fit(X_win, X_lose)
    assert BTLinear().fit(X_win, EmbeddingArray(np.zeros((3, 3)), "enc-a")).encoder_id_ == "enc-a"
