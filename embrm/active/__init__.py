"""Active annotation: choose which pairs to send to annotators next.

Strategies (:class:`DOptimal`, :class:`VOptimal`, :class:`PoolLeverage`, :class:`Random`,
:class:`Uncertainty`, :class:`MaxDifference`, :class:`KCenter`) share one method,
``select(D_pool, labelled=None, head=None, batch_size=...)``, over embedding differences,
and take ``random_state`` in the constructor. Candidate pools with stable pair ids come from
:func:`within_prompt_pool`, :func:`cross_prompt_pool` and :func:`pairs_pool`;
:func:`simulate_active` replays annotation rounds against a golden annotator, and
:func:`select_queries` / :func:`merge_labels` run real rounds.
"""

from embrm._core.compat import renamed
from embrm.active._pools import (
    CandidatePool,
    cross_prompt_pool,
    responses_from_pairs,
    within_prompt_pool,
)
from embrm.active._rounds import (
    check_holds_no_labels,
    is_labels_file,
    labelled_pairs,
    merge_labels,
    read_labels,
    read_queries,
    select_queries,
    unlabelled_rows,
    write_labels,
    write_queries,
)
from embrm.active._simulate import GoldenAnnotator, held_out_metrics, simulate_active
from embrm.active._strategies import (
    DEFAULT_STRATEGY,
    STRATEGIES,
    BaseStrategy,
    DOptimal,
    KCenter,
    MaxDifference,
    PoolLeverage,
    Random,
    Uncertainty,
    VOptimal,
    default_strategy,
)

__all__ = [
    "check_holds_no_labels",
    "is_labels_file",
    "labelled_pairs",
    "merge_labels",
    "read_labels",
    "read_queries",
    "select_queries",
    "unlabelled_rows",
    "write_labels",
    "write_queries",
    "CandidatePool",
    "GoldenAnnotator",
    "cross_prompt_pool",
    "held_out_metrics",
    "responses_from_pairs",
    "simulate_active",
    "within_prompt_pool",
    "DEFAULT_STRATEGY",
    "STRATEGIES",
    "default_strategy",
    "BaseStrategy",
    "DOptimal",
    "VOptimal",
    "KCenter",
    "MaxDifference",
    "PoolLeverage",
    "Random",
    "Uncertainty",
]

#: Names that were public, kept for one release (each warns).
__getattr__ = renamed(
    "embrm.active",
    {
        "QUERY_COLUMNS": "embrm.active._rounds.QUERY_COLUMNS",
        "log_det_information": "embrm.active._strategies.log_det_information",
    },
)
