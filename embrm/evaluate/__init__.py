"""Evaluate rewards: exact Best-of-N, rank correlation, pairwise accuracy, calibration,
paired comparisons of two rewards, per-subset reports beside length-only baselines and
length-controlled Best-of-N.

Every function takes rewards as plain arrays (one per response or pair) and prompt ids;
none needs a model object. Bad input raises :class:`embrm.exceptions.DataError`.
"""

from embrm.evaluate._bon import best_of_n, bon_curve
from embrm.evaluate._compare import compare_pairs, compare_rewards
from embrm.evaluate._display import BestOfNDisplay, ReliabilityDisplay
from embrm.evaluate._length import residualise_on_length
from embrm.evaluate._metrics import (
    expected_calibration_error,
    pair_auc,
    pairwise_accuracy,
    rank_correlation,
    reliability_table,
    symmetrize_pairs,
)
from embrm.evaluate._report import evaluate_pairs, evaluate_rewards
from embrm.evaluate._subsets import evaluate_by_subset

__all__ = [
    "BestOfNDisplay",
    "ReliabilityDisplay",
    "best_of_n",
    "bon_curve",
    "compare_pairs",
    "compare_rewards",
    "evaluate_by_subset",
    "evaluate_pairs",
    "evaluate_rewards",
    "expected_calibration_error",
    "pair_auc",
    "pairwise_accuracy",
    "rank_correlation",
    "reliability_table",
    "residualise_on_length",
    "symmetrize_pairs",
]
