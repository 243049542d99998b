"""cross_val_rewards with a fitted representation: a clone is fitted inside each fold, on that
fold's training part only, and transforms its training and held-out rows."""

from __future__ import annotations

from functools import partial

import numpy as np
import polars as pl
import pytest
from _planted import planted_word_responses
from _require import require
from sklearn.base import BaseEstimator, clone

from embrm.data import PreferencePairs, ScoredResponses, within_prompt_pairs
from embrm.embed import LexicalFeatures
from embrm.embed._lexical import response_texts
from embrm.evaluate import pairwise_accuracy
from embrm.exceptions import DataError
from embrm.heads import BTLinear
from embrm.model_selection import cross_val_rewards, group_kfold, length_features

WORDS = "alpha beta gamma delta epsilon zeta theta kappa lambda sigma omega rho".split()
LEXICAL = partial(LexicalFeatures, word_ngram_range=(1, 1), char_ngram_range=None, min_df=1)
HEAD = partial(BTLinear, alpha=1.0, standardize=False)


def planted_scored(n_prompts: int = 30, n_responses: int = 6, seed: int = 0) -> ScoredResponses:
    """Filler-word responses; those holding ``cannot`` score low; length carries no signal.
    Prompt 0's responses alone hold the word ``zyzzyva``."""
    return planted_word_responses(
        WORDS, "cannot", marks_good=False, n_prompts=n_prompts, n_responses=n_responses, seed=seed,
        first_prompt_word="zyzzyva",
    )  # fmt: skip


def planted_pairs(n: int = 120, seed: int = 0) -> PreferencePairs:
    data = planted_scored(n_prompts=n // 3, seed=seed)
    frame = data.frame
    return PreferencePairs(pl.DataFrame({
        "prompt": frame["prompt"].gather_every(2),
        "chosen": frame["response"].gather_every(2),
        "rejected": frame["response"].gather_every(2, offset=1),
    }))  # fmt: skip


class Recorder(BaseEstimator):
    """A fitted representation that records what it was fitted on."""

    def fit(self, data, pairs=None):
        self.texts_ = set(response_texts(data))
        self.n_pairs_ = None if pairs is None else len(pairs)
        self.features_ = LEXICAL().fit(data)
        return self

    def transform(self, data):
        return self.features_.transform(data)


def test_held_out_texts_never_reach_the_vocabulary():
    data = planted_scored()
    result = cross_val_rewards(HEAD(), data, LEXICAL(), cv=5, random_state=0)
    held_out = [fit for fit in result.folds if 0 in data.groups[fit.test_index]]
    assert len(held_out) == 1 and len(result.folds) == 5
    for fit in result.folds:
        vocabulary = fit.representation.vectorizers_[0].vocabulary_
        assert ("zyzzyva" in vocabulary) == (fit is not held_out[0])
        train_texts = " ".join(data.frame["response"].gather(fit.train_index))
        assert set(vocabulary) == set(train_texts.split())  # exactly the training part's words


def test_equals_a_hand_written_fold_loop():
    data = planted_scored()
    build = partial(within_prompt_pairs, pairs_per_prompt=6)
    result = cross_val_rewards(HEAD(), data, LEXICAL(), cv=4, pairs=build, random_state=3)
    expected = np.full(len(data), np.nan)
    for k, (tr, te) in enumerate(group_kfold(data.groups, 4, random_state=3)):
        part = data.take(tr)
        features = LEXICAL().fit(part)
        X_part = features.transform(part)
        train = build(part, random_state=3 + 1000 * k)
        win, lose = train.frame["chosen_index"].to_numpy(), train.frame["rejected_index"].to_numpy()
        head = HEAD().fit(X_part[win], X_part[lose])
        expected[te] = head.reward(features.transform(data.take(te)))
        assert result.folds[k].n_train_pairs == len(train)
    np.testing.assert_array_equal(result.reward, expected)


def test_pairs_equal_a_hand_written_fold_loop():
    data = planted_pairs()
    result = cross_val_rewards(HEAD(), data, LEXICAL(), cv=3, random_state=1)
    for tr, te in group_kfold(data.groups, 3, random_state=1):
        features = LEXICAL().fit(data.take(tr))
        head = HEAD().fit(*features.transform(data.take(tr)))
        X_win, X_lose = features.transform(data.take(te))
        np.testing.assert_array_equal(result.reward_win[te], head.reward(X_win))
        np.testing.assert_array_equal(result.reward_lose[te], head.reward(X_lose))
    assert pairwise_accuracy(result.reward_win, result.reward_lose) == 1.0


def test_representation_gets_the_training_part_and_its_pairs():
    data = planted_scored(n_prompts=8, n_responses=4)
    result = cross_val_rewards(HEAD(), data, Recorder(), cv=4, random_state=0)
    for fit in result.folds:
        assert fit.representation.texts_ == set(data.frame["response"].gather(fit.train_index))
        assert fit.representation.n_pairs_ == fit.n_train_pairs > 0
    pairs = planted_pairs(n=24)
    result = cross_val_rewards(HEAD(), pairs, Recorder(), cv=2, random_state=0)
    for fit in result.folds:
        assert fit.representation.n_pairs_ == len(fit.train_index)
        assert fit.representation.texts_ == set(response_texts(pairs.take(fit.train_index)))


def test_lexical_sees_the_planted_word_that_length_misses():
    data = planted_scored(n_prompts=40)
    lexical = cross_val_rewards(HEAD(), data, LEXICAL(), cv=5, random_state=0)
    length = cross_val_rewards(BTLinear(), data, length_features(data), cv=5, random_state=0)
    truth = -data.scores
    by_prompt = [np.flatnonzero(data.groups == g) for g in np.unique(data.groups)]

    def accuracy(reward):  # share of (refusing, helpful) pairs of a prompt ranked right
        hits = [np.mean(reward[i][truth[i] < 0.5][:, None] > reward[i][truth[i] > 0.5][None, :])
                for i in by_prompt]
        return float(np.mean(hits))

    assert accuracy(lexical.reward) == 1.0
    assert 0.3 < accuracy(length.reward) < 0.7
    assert not np.isnan(lexical.reward).any()


def test_reward_held_out_transforms_the_other_set_per_fold():
    data = planted_scored()
    result = cross_val_rewards(HEAD(), data, LEXICAL(), cv=5, random_state=0)
    other = data.take(np.arange(0, len(data), 2))
    got = result.reward_held_out(other, other.groups)
    np.testing.assert_allclose(got, result.reward[::2])  # the same rows: the same folds' rewards
    message = (
        "^Pass the other set itself \\(ScoredResponses\\) when cross_val_rewards fitted a "
        "representation in each fold, and its embeddings otherwise\\.$"
    )
    with pytest.raises(DataError, match=message):
        result.reward_held_out(np.zeros((3, 2)), other.groups[:3])
    dense = cross_val_rewards(BTLinear(), data, length_features(data), cv=5, random_state=0)
    with pytest.raises(DataError, match=message):
        dense.reward_held_out(other, other.groups)
    np.testing.assert_allclose(dense.reward_held_out(length_features(other), other.groups), dense.reward[::2])
    # rows as nested lists are array-like too
    rows = length_features(other).tolist()
    np.testing.assert_allclose(dense.reward_held_out(rows, other.groups), dense.reward[::2])
    assert dense.folds[0].representation is None


def test_the_representation_passed_stays_unfitted():
    features = LEXICAL()
    cross_val_rewards(HEAD(), planted_scored(n_prompts=6), features, cv=2, random_state=0)
    assert not hasattr(features, "vectorizers_")
    assert clone(features).get_params() == features.get_params()


def test_rows_with_a_transform_method_are_rows_not_a_representation():
    """A pandas frame of features has ``transform`` but no ``fit``: it is rows. An object with
    ``fit`` alone is no representation either, and is refused as rows."""
    pd = require("pandas")
    data = planted_scored(n_prompts=10)
    X = length_features(data)
    expected = cross_val_rewards(BTLinear(), data, X, cv=2, random_state=0).reward
    frame = pd.DataFrame(X)
    assert hasattr(frame, "transform") and not hasattr(frame, "fit")
    got = cross_val_rewards(BTLinear(), data, frame, cv=2, random_state=0).reward
    np.testing.assert_allclose(got, expected)

    class FitOnly:
        def fit(self, *args, **kwargs):
            return self

    with pytest.raises(DataError, match="X must have one row per response"):
        cross_val_rewards(BTLinear(), data, FitOnly(), cv=2, random_state=0)
