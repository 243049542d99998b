"""LexicalFeatures: tf-idf of words and characters plus log length, fitted on training texts."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp
from _planted import planted_word_responses
from sklearn.base import clone

from embrm import Encoder
from embrm.data import PreferencePairs, ScoredResponses
from embrm.embed import FITTED_REPRESENTATIONS, LexicalFeatures
from embrm.exceptions import DataError, NotFittedError
from embrm.heads import BTLinear

WORDS = "alpha beta gamma delta epsilon zeta theta kappa lambda sigma omega rho".split()


def planted_scored(n_prompts: int = 30, n_responses: int = 6, seed: int = 0) -> ScoredResponses:
    """Responses of random filler words; those holding the word ``cannot`` score low, and
    length carries no signal (every response has 8 to 12 words whatever its score)."""
    return planted_word_responses(
        WORDS, "cannot", marks_good=False, n_prompts=n_prompts, n_responses=n_responses, seed=seed
    )


def test_columns_are_word_then_char_ngrams_then_log_length():
    texts = ["the cat sat", "the cat ran", "a dog sat"]
    features = LexicalFeatures(min_df=1).fit(texts)
    X = features.transform(texts)
    names = features.get_feature_names_out()
    word = features.vectorizers_[0].vocabulary_
    char = features.vectorizers_[1].vocabulary_
    assert sp.isspmatrix_csr(X) and X.shape == (3, len(word) + len(char) + 1) == (3, features.n_features_out_)
    assert names[-1] == "log1p_chars" and "the cat" in names and "char: ca" in names
    np.testing.assert_allclose(X[:, -1].toarray().ravel(), np.log1p([11, 11, 9]))
    # each n-gram block has rows of unit norm (tf-idf's l2 normalisation)
    n_word = len(word)
    np.testing.assert_allclose(sp.linalg.norm(X[:, :n_word], axis=1), 1.0)
    np.testing.assert_allclose(sp.linalg.norm(X[:, n_word:-1], axis=1), 1.0)


def test_term_frequency_is_sublinear():
    features = LexicalFeatures(char_ngram_range=None, min_df=1).fit(["a1 a1 a1 a1 b1", "b1 c1"])
    row = features.transform(["a1 a1 a1 a1 b1"])
    vocabulary, idf = features.vectorizers_[0].vocabulary_, features.vectorizers_[0].idf_
    a, b = vocabulary["a1"], vocabulary["b1"]
    assert row[0, a] / row[0, b] == pytest.approx((1 + np.log(4)) * idf[a] / idf[b])


def test_vocabulary_comes_from_fitted_texts_only():
    features = LexicalFeatures(char_ngram_range=None, min_df=1).fit(["hello world", "hello there"])
    X = features.transform(["zyzzyva hello"])
    assert "zyzzyva" not in features.vectorizers_[0].vocabulary_
    hello = features.vectorizers_[0].vocabulary_["hello"]
    assert X[0, :-1].nonzero()[1].tolist() == [hello]  # the unseen word adds no column


def test_min_df_and_max_features_bound_the_vocabulary():
    texts = ["common rare1", "common rare2", "common other", "other thing"]
    vocab = LexicalFeatures(char_ngram_range=None, min_df=2).fit(texts).vectorizers_[0].vocabulary_
    assert sorted(vocab) == ["common", "other"]  # words of one text only are dropped
    capped = LexicalFeatures(char_ngram_range=None, min_df=1, max_features=1).fit(texts)
    assert list(capped.vectorizers_[0].vocabulary_) == ["common"]  # the most frequent n-gram
    assert capped.n_features_out_ == 2


def test_pairs_give_chosen_and_rejected_rows():
    pairs = PreferencePairs(pl.DataFrame({"prompt": ["q1", "q2"], "chosen": ["yes sure", "ok fine"],
                                          "rejected": ["no way", "nope"]}))
    features = LexicalFeatures(min_df=1).fit(pairs)
    X_win, X_lose = features.transform(pairs)
    assert "way" in features.vectorizers_[0].vocabulary_  # rejected texts are read too
    np.testing.assert_allclose(X_win.toarray(), features.transform(["yes sure", "ok fine"]).toarray())
    np.testing.assert_allclose(X_lose.toarray(), features.transform(["no way", "nope"]).toarray())


def test_scored_responses_read_the_response_not_the_prompt():
    data = planted_scored(n_prompts=2, n_responses=2)
    features = LexicalFeatures(char_ngram_range=None, min_df=1).fit(data)
    assert "question" not in features.vectorizers_[0].vocabulary_
    assert features.transform(data).shape[0] == 4


def test_clone_and_errors():
    features = LexicalFeatures(word_ngram_range=(1, 1), min_df=3, max_features=10)
    assert clone(features).get_params() == features.get_params()
    with pytest.raises(NotFittedError, match="not fitted"):
        features.transform(["a"])
    with pytest.raises(DataError, match="both None"):
        LexicalFeatures(word_ngram_range=None, char_ngram_range=None).fit(["a b"])
    with pytest.raises(DataError, match="min_df=3"):
        features.fit(["one text"])
    with pytest.raises(DataError, match="list of response texts"):
        features.fit("a single string")
    with pytest.raises(DataError, match="must be a str"):
        features.fit(["ok", 3])


def test_planted_word_gets_the_most_negative_reward():
    data = planted_scored()
    features = LexicalFeatures(char_ngram_range=None, min_df=1)
    X = features.fit_transform(data)
    refuses = data.frame["response"].str.contains("cannot").to_numpy()
    head = BTLinear(alpha=1.0, standardize=False).fit(X[~refuses], X[refuses])
    ranked = features.ngram_rewards(head.coef_)
    assert ranked[-1][0] == "cannot" and ranked[-1][1] < 0
    assert all(w > ranked[-1][1] / 3 for name, w in ranked[:-1] if "cannot" not in name)
    top = features.ngram_rewards(head.coef_, top=2)
    assert [n for n, _ in top[:2]] == [n for n, _ in ranked[:2]] and top[-1] == ranked[-1] and len(top) == 4
    with pytest.raises(DataError, match="columns"):
        features.ngram_rewards(head.coef_[:-1])
    response = data.frame["response"][1]
    parts = features.ngram_contributions(head.coef_, response)
    assert sum(c for _, c in parts) == pytest.approx(head.reward(features.transform([response]))[0])
    assert min((c, n) for n, c in parts if n != "log1p_chars")[1] == "cannot"
    assert [c for _, c in parts] == sorted((c for _, c in parts), reverse=True)
    assert {n for n, _ in parts} <= set(features.get_feature_names_out())
    assert len(parts) == features.transform([response]).nnz
    small = LexicalFeatures(char_ngram_range=None, min_df=1).fit(["no", "yes"])
    assert small.ngram_rewards([1.0, 2.0, 0.0], top=5) == [("yes", 2.0), ("no", 1.0)]  # none twice


def test_encoder_refuses_a_fitted_representation():
    assert FITTED_REPRESENTATIONS["lexical"] is LexicalFeatures
    with pytest.raises(ValueError, match=r"fitted representation.*LexicalFeatures\(\)"):
        Encoder("lexical")
