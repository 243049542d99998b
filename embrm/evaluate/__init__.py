"""Evaluate rewards: exact Best-of-N, rank correlation, pairwise accuracy, calibration,
paired comparisons of two rewards, per-subset reports beside length-only baselines and
length-controlled Best-of-N.

Every function takes rewards as plain arrays (one per response or pair) and prompt ids;
none needs a model object. Bad input raises :class:`embrm.exceptions.DataError`.

Names imported as ``name as name`` are shared with embrm's other packages and scripts;
they are not the public API (``__all__``).
"""

from embrm.evaluate._bon import best_of_n, bon_curve
from embrm.evaluate._bon import bon_components as bon_components
from embrm.evaluate._bootstrap import bootstrap as bootstrap
from embrm.evaluate._bootstrap import ratio_of_sums as ratio_of_sums
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
from embrm.evaluate._metrics import pair_outcomes as pair_outcomes
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
