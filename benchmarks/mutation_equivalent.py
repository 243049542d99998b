"""Surviving mutants that cannot change any result of embrm, each with the reason.

``benchmarks/mutation_score.py`` leaves these out of a module's score. A name is mutmut's
(``embrm.<module>.x_<function>__mutmut_<n>``); ``mutmut show NAME`` in
``results/mutation/<module>`` prints its diff.
"""

from __future__ import annotations

#: mutant name -> why no test can tell it from the original
EQUIVALENT: dict[str, str] = {
    # evaluate.bon
    "embrm.evaluate._bon.x__tie_averaged_sorted_golden__mutmut_5":
        "sort kind: the order inside a tie block does not matter, its golden scores are averaged",
    "embrm.evaluate._bon.x__tie_averaged_sorted_golden__mutmut_8":
        "sort kind dropped (quicksort): the order inside a tie block does not matter, it is averaged",
    "embrm.evaluate._bon.x__tie_averaged_sorted_golden__mutmut_12":
        "kind='STABLE': numpy reads sort kinds case-insensitively, the same stable sort",
    "embrm.evaluate._bon.x__tie_averaged_sorted_golden__mutmut_7":
        "argsort's default axis is -1, which is axis 1 of the 2-d (groups x k) array",
    "embrm.evaluate._bon.x__tie_averaged_sorted_golden__mutmut_19":
        "take_along_axis's default axis is -1, axis 1 of the 2-d array",
    "embrm.evaluate._bon.x__tie_averaged_sorted_golden__mutmut_27":
        "take_along_axis's default axis is -1, axis 1 of the 2-d array",
    "embrm.evaluate._bon.x__tie_averaged_sorted_golden__mutmut_42":
        "block ids shifted by 2: the ids only label blocks (bincount grows to the largest id)",
    "embrm.evaluate._bon.x__tie_averaged_sorted_golden__mutmut_57":
        "bincount's minlength dropped: it is only read at the ids it counted",
    "embrm.evaluate._bon.x__tie_averaged_sorted_golden__mutmut_63":
        "bincount's minlength dropped: it is only read at the ids it counted",
    "embrm.evaluate._bon.x_gain_terms__mutmut_15":
        "<= vs < tol: differs only when |bon - random| equals 1e-10 x the largest score exactly",
    "embrm.evaluate._bon.x_gain_terms__mutmut_19":
        "<= vs < tol: differs only when |oracle - random| equals 1e-10 x the largest score exactly",
    "embrm.evaluate._bon.x_bon_curve__mutmut_73":
        "kl from an int array of N: np.log and the true division give the same floats",
    "embrm.evaluate._bon.x_bon_curve__mutmut_75":
        "kl from an int array of N: np.log and the true division give the same floats",
    "embrm.evaluate._bon.x_bon_curve__mutmut_80":
        "column n: np.asarray of Python ints is int64 already (64-bit Linux, macOS)",
    "embrm.evaluate._bon.x_bon_curve__mutmut_82":
        "column n: np.asarray of Python ints is int64 already (64-bit Linux, macOS)",
}
