"""simulate_active, GoldenAnnotator and held_out_metrics on planted data with known answers.

Responses are random vectors ``X`` with a planted golden score ``X @ w``, so a noiseless
annotator's labels, the best possible pairwise accuracy (1), the exact Best-of-N of a perfect
reward and the head fitted on the whole pool are all known in advance.
"""

from __future__ import annotations

from math import comb

import numpy as np
import polars as pl
import pytest
from scipy.stats import spearmanr

from embrm.active import (
    DOptimal,
    GoldenAnnotator,
    Random,
    held_out_metrics,
    simulate_active,
    within_prompt_pool,
)
from embrm.data import PreferencePairs, ScoredResponses
from embrm.exceptions import DataError
from embrm.heads import BTLinear

D_FEATURES, K = 6, 6


def _planted(n_prompts: int, seed: int, offset: int = 0):
    """``(ScoredResponses, X)``: K responses per prompt, golden score = X @ w (w fixed)."""
    rng = np.random.RandomState(seed)
    w = np.random.RandomState(123).standard_normal(D_FEATURES)
    X = rng.standard_normal((n_prompts * K, D_FEATURES))
    prompt_id = np.repeat(np.arange(n_prompts) + offset, K)
    frame = pl.DataFrame({
        "prompt_id": prompt_id,
        "prompt": [f"prompt {p}" for p in prompt_id],
        "response": [f"answer {i} to {p}" for i, p in enumerate(prompt_id)],
        "score": X @ w,
    })
    return ScoredResponses(frame, "planted"), X


class ScoreHead:
    """A 'head' whose reward is a fixed function of the row (a stand-in for a fitted head)."""

    def __init__(self, reward_of):
        self.reward_of = reward_of

    def reward(self, X):
        return self.reward_of(np.asarray(X))


def test_noiseless_annotator_labels_every_pair_by_the_true_score():
    data, X = _planted(10, 0)
    pool = within_prompt_pool(data)
    assert len(pool) == 10 * comb(K, 2)
    annotator = GoldenAnnotator(data.scores).fit(pool, random_state=0)
    rows = np.arange(len(pool))
    truth = data.scores[pool.index_a] > data.scores[pool.index_b]
    np.testing.assert_array_equal(annotator.label(pool, rows), truth)
    assert annotator.scale is None  # noiseless: no scale is needed or set
    assert not annotator.is_flipped(pool, rows, truth).any()
    assert annotator.is_flipped(pool, rows, ~truth).all()


def test_noisy_annotator_flips_at_the_models_rate_and_is_consistent_per_pair():
    data, X = _planted(60, 1)
    pool = within_prompt_pool(data)
    beta = 2.0
    annotator = GoldenAnnotator(data.scores, beta=beta).fit(pool, random_state=0)
    diff = data.scores[pool.index_a] - data.scores[pool.index_b]
    assert annotator.scale == pytest.approx(np.std(diff))  # the default scale, set by fit
    rows = np.arange(len(pool))
    labels = annotator.label(pool, rows)
    flipped = annotator.is_flipped(pool, rows, labels)
    np.testing.assert_array_equal(flipped, labels != (diff > 0))
    expected_rate = np.mean(1 / (1 + np.exp(beta * np.abs(diff) / np.std(diff))))  # P(lower score wins)
    n = len(pool)
    assert abs(flipped.mean() - expected_rate) < 4 * np.sqrt(expected_rate * (1 - expected_rate) / n)
    assert 0.1 < flipped.mean() < 0.4
    # one noise draw per pool pair: asking again, or in another order, gives the same labels
    shuffled = np.random.RandomState(5).permutation(rows)
    np.testing.assert_array_equal(annotator.label(pool, shuffled), labels[shuffled])
    again = GoldenAnnotator(data.scores, beta=beta).fit(pool, random_state=0).label(pool, rows)
    np.testing.assert_array_equal(again, labels)
    other = GoldenAnnotator(data.scores, beta=beta).fit(pool, random_state=1).label(pool, rows)
    assert (other != labels).any()


def _expected_best_of(scores: np.ndarray, n: int) -> float:
    """E[max score of n answers drawn without replacement] (exact, by ranks)."""
    s = np.sort(scores)
    weights = np.array([comb(j, n - 1) for j in range(len(s))]) / comb(len(s), n)
    return float(weights @ s)


def test_held_out_metrics_of_a_perfect_and_a_reversed_reward():
    test, X_test = _planted(8, 2)
    scores = test.scores
    metrics = held_out_metrics(test, X_test, ns=(2, 4, "all"))
    w = np.random.RandomState(123).standard_normal(D_FEATURES)
    perfect = metrics(ScoreHead(lambda X: X @ w))
    groups = [scores[test.groups == g] for g in np.unique(test.groups)]
    assert perfect["pairwise_accuracy"] == pytest.approx(1.0)
    assert perfect["spearman"] == pytest.approx(1.0)
    for n in (2, 4):
        assert perfect[f"bon@{n}"] == pytest.approx(np.mean([_expected_best_of(g, n) for g in groups]))
    assert perfect["bon@all"] == pytest.approx(np.mean([g.max() for g in groups]))
    reversed_ = metrics(ScoreHead(lambda X: -(X @ w)))
    assert reversed_["pairwise_accuracy"] == pytest.approx(0.0)
    assert reversed_["spearman"] == pytest.approx(-1.0)
    assert reversed_["bon@all"] == pytest.approx(np.mean([g.min() for g in groups]))
    # win-rate units: the same picks read in another column
    with_rate = held_out_metrics(test, X_test, ns=("all",), win_rate=100 * scores)(ScoreHead(lambda X: X @ w))
    assert with_rate["winrate_bon@all"] == pytest.approx(100 * perfect["bon@all"])


def test_held_out_metrics_on_pairs_is_the_accuracy_on_the_stored_labels():
    rng = np.random.RandomState(3)
    X_win, X_lose = rng.standard_normal((40, 3)), rng.standard_normal((40, 3))
    frame = pl.DataFrame({"prompt": [f"p{i % 8}" for i in range(40)],
                          "chosen": [f"c{i}" for i in range(40)], "rejected": [f"r{i}" for i in range(40)]})
    head = ScoreHead(lambda X: X[:, 0])
    expected = np.mean(X_win[:, 0] > X_lose[:, 0])
    got = held_out_metrics(PreferencePairs(frame), (X_win, X_lose))(head)
    assert got == {"pairwise_accuracy": pytest.approx(expected)}
    assert 0.2 < expected < 0.8  # neither 0 nor 1: the check can tell a swap


def _full_pool_accuracy(pool, X, annotator, evaluate):
    rows = np.arange(len(pool))
    a_wins = annotator.label(pool, rows)
    win = np.where(a_wins, pool.index_a, pool.index_b)
    lose = np.where(a_wins, pool.index_b, pool.index_a)
    return evaluate(BTLinear().fit(X[win], X[lose]))["pairwise_accuracy"]


def test_the_noiseless_curve_rises_to_the_full_pool_accuracy():
    data, X = _planted(30, 4)
    test, X_test = _planted(10, 5, offset=100)
    pool = within_prompt_pool(data)  # 450 pairs
    evaluate = held_out_metrics(test, X_test, ns=("all",))
    annotator = GoldenAnnotator(data.scores)
    curve = simulate_active(Random(), pool, X, annotator, evaluate, n_seed=10, batch_size=88,
                            budget=len(pool), random_state=0)
    assert curve["round"].to_list() == list(range(6))
    assert curve["n_labels"].to_list() == [10, 98, 186, 274, 362, 450]
    assert (curve["label_error_rate"] == 0).all()
    full = _full_pool_accuracy(pool, X, annotator.fit(pool, 0), evaluate)
    assert full > 0.95  # a linear planted score, labelled without noise
    accuracy = curve["pairwise_accuracy"].to_numpy()
    assert accuracy[-1] == pytest.approx(full, abs=1e-3)  # every pool pair labelled: the full head
    assert 0.6 < accuracy[0] < accuracy[-1] - 0.2  # 10 labels: 0.69; the whole pool: 0.97
    assert spearmanr(curve["n_labels"], accuracy)[0] > 0.5


def test_strategies_share_the_seed_set_and_the_annotators_noise():
    data, X = _planted(12, 6)
    test, X_test = _planted(6, 7, offset=100)
    pool = within_prompt_pool(data)
    evaluate = held_out_metrics(test, X_test, ns=("all",))
    runs = {
        name: simulate_active(strategy, pool, X, GoldenAnnotator(data.scores, beta=1.0), evaluate,
                              n_seed=20, batch_size=20, budget=60, random_state=3)
        for name, strategy in {"random": Random(), "dopt": DOptimal()}.items()
    }
    first = {name: run.row(0, named=True) for name, run in runs.items()}
    for key in ("n_labels", "label_error_rate", "pairwise_accuracy", "spearman", "bon@all"):
        assert first["random"][key] == first["dopt"][key]
    for run in runs.values():
        assert run["n_labels"].to_list() == [20, 40, 60]
        assert 0 < run["label_error_rate"].max() < 0.5  # beta=1: some, not most, labels flipped


def test_bad_budgets_and_a_strategy_that_repeats_itself():
    data, X = _planted(4, 8)
    pool = within_prompt_pool(data)
    evaluate = held_out_metrics(data, X, ns=("all",))
    annotator = GoldenAnnotator(data.scores)
    for n_seed, budget in ((0, 10), (20, 10), (10, len(pool) + 1)):
        with pytest.raises(DataError, match=r"Need 0 < n_seed .* <= budget .* <= pool size"):
            simulate_active(Random(), pool, X, annotator, evaluate, n_seed=n_seed, budget=budget)

    class Repeats(Random):
        def select(self, D, **kwargs):
            return np.zeros(kwargs["batch_size"], dtype=int)

    with pytest.raises(RuntimeError, match="Repeats proposed an already labelled pair"):
        simulate_active(Repeats(), pool, X, annotator, evaluate, n_seed=10, batch_size=5, budget=20,
                        random_state=0)
