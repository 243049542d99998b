"""Surviving mutants that cannot change any result of embrm, each with the reason.

``benchmarks/mutation_score.py`` leaves these out of a module's score. A name is mutmut's
(``embrm.<module>.x_<function>__mutmut_<n>``); ``mutmut show NAME`` in
``results/mutation/<module>`` prints its diff.
"""

from __future__ import annotations

#: mutant name -> why no test can tell it from the original
EQUIVALENT: dict[str, str] = {}
