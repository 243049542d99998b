"""The lexical representation: sparse tf-idf of word and character n-grams of each response,
plus its log length, fitted on training texts only.

Unlike the encoders' vectors, these features depend on the texts they were fitted on (the
vocabulary, the inverse document frequencies), so there is no cache and no ``Encoder``: a
:class:`LexicalFeatures` object is fitted on a training part and transforms any rows after
that. :func:`embrm.model_selection.cross_val_rewards` takes one in place of ``X`` and fits a
clone inside each fold on that fold's training part only, so no held-out text reaches the
vocabulary.

The object follows the protocol of a *fitted representation*: ``fit(data)`` on a training
part (``ScoredResponses`` or ``PreferencePairs``; it may read their texts and labels) returns
the object, and ``transform(data)`` returns rows aligned with ``data``: one matrix for a
scored set, the tuple ``(X_win, X_lose)`` for pairs, as :meth:`PreferencePairs.embed` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import TfidfVectorizer

from embrm.exceptions import DataError, NotFittedError

__all__ = ["LexicalFeatures"]

#: ``ScoredResponses``, ``PreferencePairs`` (read through their polars ``frame``: embrm.data is
#: beside embrm.embed, not below it) or a list of response texts.
Texts = Any
Rows = sp.csr_matrix | tuple[sp.csr_matrix, sp.csr_matrix]


def is_pairs(data: Texts) -> bool:
    """Whether ``data`` holds pairs: a frame with ``chosen`` and ``rejected`` columns."""
    columns = getattr(getattr(data, "frame", None), "columns", ())
    return "chosen" in columns and "rejected" in columns


def response_texts(data: Texts) -> list[str]:
    """Every response text of ``data``: a scored set's responses (its frame's ``response``
    column), a pairs set's chosen then rejected answers, or the strings themselves.

    Example
    -------
    >>> response_texts(["a", "b"])
    ['a', 'b']
    """
    if is_pairs(data):
        return data.frame["chosen"].to_list() + data.frame["rejected"].to_list()
    if "response" in getattr(getattr(data, "frame", None), "columns", ()):
        return data.frame["response"].to_list()
    if isinstance(data, str) or not isinstance(data, Sequence):
        raise DataError(
            f"Lexical features read ScoredResponses, PreferencePairs or a list of response texts; "
            f"got {type(data).__name__}."
        )
    if not all(isinstance(t, str) for t in data):
        raise DataError("Lexical features read response texts: every item of the list must be a str.")
    return list(data)


class LexicalFeatures(BaseEstimator):
    """Sparse tf-idf of the word and character n-grams of each response, plus its log length.

    Two scikit-learn ``TfidfVectorizer`` blocks (words, and characters within word bounds),
    each with sublinear term frequency and rows of unit L2 norm, followed by one column
    ``log1p(characters)``: a CSR matrix of ``n_features_out_`` columns. Fitted on training
    texts only (the vocabulary, capped at the most frequent n-grams, and the idf weights).
    Only the response is read: for a linear head the prompt's n-grams are the same for both
    answers of a pair and cancel in the difference.

    A linear head on these rows (:class:`~embrm.heads.BTLinear` takes sparse input) sees the
    exact words a judge rewards or punishes (refusals, hedges, formatting, code), and its
    weight of each n-gram is a per-n-gram reward (:meth:`ngram_rewards`); a response's reward
    splits exactly over its n-grams (:meth:`ngram_contributions`).

    Parameters
    ----------
    word_ngram_range : tuple of int, default=(1, 2)
        Word n-gram lengths (``None`` drops the word block).
    char_ngram_range : tuple of int, default=(2, 5)
        Character n-gram lengths within word bounds (``analyzer="char_wb"``; ``None`` drops
        the character block).
    min_df : int, default=2
        An n-gram must occur in at least this many training texts.
    max_features : int, default=50000
        Most n-grams kept per block (the most frequent), which bounds memory: a row holds at
        most a few thousand non-zeros whatever the vocabulary.
    lowercase : bool, default=True
        Lowercase before taking n-grams.
    dtype : numpy dtype, default=numpy.float64
        Of the returned matrix.

    Attributes
    ----------
    vectorizers_ : list of TfidfVectorizer
        The fitted blocks, in column order.
    n_features_out_ : int
        Columns of the rows returned: every kept n-gram and the length column last.

    Examples
    --------
    >>> features = LexicalFeatures(char_ngram_range=None, min_df=1)
    >>> X = features.fit(["I cannot help with that.", "Sure, here is the code."]).transform(["Sure."])
    >>> X.shape == (1, features.n_features_out_), features.get_feature_names_out()[-1]
    (True, 'log1p_chars')
    """

    def __init__(
        self,
        word_ngram_range: tuple[int, int] | None = (1, 2),
        char_ngram_range: tuple[int, int] | None = (2, 5),
        min_df: int = 2,
        max_features: int = 50_000,
        lowercase: bool = True,
        dtype: Any = np.float64,
    ) -> None:
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.min_df = min_df
        self.max_features = max_features
        self.lowercase = lowercase
        self.dtype = dtype

    def _blocks(self) -> list[TfidfVectorizer]:
        common = {
            "sublinear_tf": True,
            "min_df": self.min_df,
            "max_features": self.max_features,
            "lowercase": self.lowercase,
            "dtype": self.dtype,
        }
        blocks = [
            TfidfVectorizer(analyzer=analyzer, ngram_range=tuple(ngrams), **common)
            for analyzer, ngrams in (("word", self.word_ngram_range), ("char_wb", self.char_ngram_range))
            if ngrams is not None
        ]
        if not blocks:
            raise DataError(
                "LexicalFeatures has no block: word_ngram_range and char_ngram_range are both None; "
                "set at least one."
            )
        return blocks

    def fit(self, data: Texts, pairs: Any = None) -> LexicalFeatures:
        """Learn the vocabulary and idf weights from the responses of a training part.

        Parameters
        ----------
        data : ScoredResponses, PreferencePairs or list of str
            The training part: its response texts are read.
        pairs : PreferencePairs, optional
            The training part's pairs (what ``cross_val_rewards`` passes to every fitted
            representation); not needed here, ignored.

        Returns
        -------
        self : LexicalFeatures
        """
        texts = response_texts(data)
        blocks = self._blocks()
        for block in blocks:
            try:
                block.fit(texts)
            except ValueError as exc:  # an empty vocabulary: too few or too short texts for min_df
                raise DataError(
                    f"LexicalFeatures found no n-gram in {len(texts)} training text(s) that meets "
                    f"min_df={self.min_df} ({exc}); fit on more texts or lower min_df."
                ) from exc
        self.vectorizers_ = blocks
        self.n_features_out_ = sum(len(b.vocabulary_) for b in blocks) + 1
        return self

    def _rows(self, texts: list[str]) -> sp.csr_matrix:
        if not hasattr(self, "vectorizers_"):
            raise NotFittedError(
                "This LexicalFeatures is not fitted yet: call fit on the training part first "
                "(cross_val_rewards does it inside each fold)."
            )
        length = np.log1p(np.array([len(t) for t in texts], dtype=np.float64))[:, None]
        parts = [b.transform(texts) for b in self.vectorizers_]
        return sp.hstack([*parts, sp.csr_matrix(length)], format="csr", dtype=self.dtype)

    def transform(self, data: Texts) -> Rows:
        """Rows of the fitted features, aligned with ``data``.

        Parameters
        ----------
        data : ScoredResponses, PreferencePairs or list of str

        Returns
        -------
        csr_matrix of shape (n, n_features_out_), or for PreferencePairs the tuple
        ``(X_win, X_lose)`` (chosen, rejected) of such matrices.
        """
        rows = self._rows(response_texts(data))
        if is_pairs(data):
            n = rows.shape[0] // 2
            return rows[:n], rows[n:]
        return rows

    def fit_transform(self, data: Texts, pairs: Any = None) -> Rows:
        """``fit(data, pairs).transform(data)``."""
        return self.fit(data, pairs).transform(data)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The name of each column: the n-grams of each block (characters as ``char:<n-gram>``),
        then ``log1p_chars``."""
        if not hasattr(self, "vectorizers_"):
            raise NotFittedError("This LexicalFeatures is not fitted yet: call fit first.")
        names: list[str] = []
        for block in self.vectorizers_:
            prefix = "char:" if block.analyzer == "char_wb" else ""
            names += [prefix + n for n in block.get_feature_names_out()]
        return np.array([*names, "log1p_chars"], dtype=object)

    def _check_coef(self, coef: Any) -> tuple[np.ndarray, np.ndarray]:
        coef = np.asarray(coef, dtype=np.float64).ravel()
        names = self.get_feature_names_out()
        if coef.shape != names.shape:
            raise DataError(
                f"coef has {coef.size} weights but these features have {names.size} columns: pass "
                "the coef_ of a head fitted on this LexicalFeatures' rows."
            )
        return coef, names

    def ngram_contributions(self, coef: Any, response: str) -> list[tuple[str, float]]:
        """One response's reward under a linear head, split over its n-grams.

        Each column present in the response contributes ``coef[j] * x[j]``; the contributions
        (the length column's, ``log1p_chars``, among them) sum to the head's reward of the
        response (``coef @ x``; for BTLinear, ``head.reward``).

        Parameters
        ----------
        coef : array-like of shape (n_features_out_,)
            A linear head's ``coef_`` fitted on these features.
        response : str

        Returns
        -------
        list of (name, contribution), by decreasing contribution.

        Example
        -------
        >>> features = LexicalFeatures(char_ngram_range=None, min_df=1).fit(["no", "yes"])
        >>> {name: round(c, 3) for name, c in features.ngram_contributions([-1.0, 2.0, 0.5], "yes")}
        {'yes': 2.0, 'log1p_chars': 0.693}
        """
        coef, names = self._check_coef(coef)
        row = self._rows([response])
        parts = row.data * coef[row.indices]
        order = np.argsort(-parts, kind="stable")
        return [(str(names[row.indices[i]]), float(parts[i])) for i in order]

    def ngram_rewards(self, coef: Any, top: int | None = None) -> list[tuple[str, float]]:
        """The weight a linear head gives each n-gram: its reward per unit of tf-idf.

        Parameters
        ----------
        coef : array-like of shape (n_features_out_,)
            A linear head's ``coef_`` fitted on these features.
        top : int, optional
            Only the ``top`` largest and ``top`` smallest weights (largest first).

        Returns
        -------
        list of (name, weight), by decreasing weight; the length column is left out.

        Example
        -------
        >>> features = LexicalFeatures(char_ngram_range=None, min_df=1).fit(["no", "yes"])
        >>> features.ngram_rewards([-1.0, 2.0, 0.5])
        [('yes', 2.0), ('no', -1.0)]
        """
        coef, names = self._check_coef(coef)
        order = np.argsort(-coef[:-1], kind="stable")
        if top is not None:
            order = np.concatenate([order[:top], order[max(top, order.size - top) :]])
        return [(str(names[i]), float(coef[i])) for i in order]
