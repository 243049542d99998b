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
        "<= vs < tol: differs only when |golden_bon - random| equals 1e-10 x the largest score exactly",
    "embrm.evaluate._bon.x_bon_curve__mutmut_73":
        "kl from an int array of N: np.log and the true division give the same floats",
    "embrm.evaluate._bon.x_bon_curve__mutmut_75":
        "kl from an int array of N: np.log and the true division give the same floats",
    "embrm.evaluate._bon.x_bon_curve__mutmut_80":
        "column n: np.asarray of Python ints is int64 already (64-bit Linux, macOS)",
    "embrm.evaluate._bon.x_bon_curve__mutmut_82":
        "column n: np.asarray of Python ints is int64 already (64-bit Linux, macOS)",
    # evaluate.metrics
    "embrm.evaluate._metrics.x_auc_statistic__mutmut_3":
        "sort kind: tied scores are summed into one block (reduceat), their order does not matter",
    "embrm.evaluate._metrics.x_auc_statistic__mutmut_5":
        "sort kind: tied scores are summed into one block (reduceat), their order does not matter",
    "embrm.evaluate._metrics.x_auc_statistic__mutmut_7":
        "kind='STABLE': numpy reads sort kinds case-insensitively",
    "embrm.evaluate._metrics.x_auc_statistic__mutmut_9":
        "labels are 0/1; as floats they select in np.where as the booleans do",
    "embrm.evaluate._metrics.x_pair_auc_inputs__mutmut_9":
        "label 2.0 for 1.0: auc_statistic, the only reader, casts labels to bool",
    "embrm.evaluate._metrics.x_pair_auc__mutmut_19":
        "two rows of weights one: row 0, the one read, is the same",
    "embrm.evaluate._metrics.x_pair_auc__mutmut_20":
        "weights of two groups: every row's code is 0, so only the first weight is read",
    "embrm.evaluate._metrics.x_ece_statistic__mutmut_23":
        "astype(None) is astype(float64)",
    "embrm.evaluate._metrics.x_ece_statistic__mutmut_27":
        "bincount's minlength: every group has a row, so the length is n_groups anyway",
    "embrm.evaluate._metrics.x_expected_calibration_error__mutmut_27":
        "two rows of weights one: row 0, the one read, is the same",
    "embrm.evaluate._metrics.x_within_group_stats__mutmut_29":
        "ranks average to (k + 1) / 2 in every group of size k, so the mean over all groups is the same",
    "embrm.evaluate._metrics.x_within_group_stats__mutmut_31":
        "ranks average to (k + 1) / 2 in every group of size k, so the mean over all groups is the same",
    "embrm.evaluate._metrics.x_within_group_stats__mutmut_37":
        "ranks average to (k + 1) / 2 in every group of size k, so the mean over all groups is the same",
    "embrm.evaluate._metrics.x_within_group_stats__mutmut_39":
        "ranks average to (k + 1) / 2 in every group of size k, so the mean over all groups is the same",
    "embrm.evaluate._metrics.x_within_group_stats__mutmut_55":
        "divide=: a quotient here is x / 0 only with x = 0 too (invalid, not divide)",
    "embrm.evaluate._metrics.x_within_group_stats__mutmut_57":
        "divide=: a quotient here is x / 0 only with x = 0 too (invalid, not divide)",
    "embrm.evaluate._metrics.x_within_group_stats__mutmut_146":
        "divide=: a quotient here is x / 0 only with x = 0 too (invalid, not divide)",
    "embrm.evaluate._metrics.x_within_group_stats__mutmut_148":
        "divide=: a quotient here is x / 0 only with x = 0 too (invalid, not divide)",
    "embrm.evaluate._metrics.x_within_group_stats__mutmut_65":
        "None written into a float array is NaN, the same value",
    "embrm.evaluate._metrics.x_within_group_stats__mutmut_172":
        "None written into a float array is NaN, the same value",
    "embrm.evaluate._metrics.x_within_group_stats__mutmut_69":
        "denom >= 0: where denom is 0 the quotient is 0/0, NaN either way",
    "embrm.evaluate._metrics.x_within_group_stats__mutmut_80":
        "blocks of 2 groups, not 1, when k > 1024: memory only, same values",
    "embrm.evaluate._metrics.x_within_group_stats__mutmut_88":
        "the blocks of groups overlap or merge: the same values, recomputed (memory/time only)",
    "embrm.evaluate._metrics.x_within_group_stats__mutmut_91":
        "the blocks of groups overlap or merge: the same values, recomputed (memory/time only)",
    "embrm.evaluate._metrics.x_within_group_stats__mutmut_92":
        "the blocks of groups overlap or merge: the same values, recomputed (memory/time only)",
    "embrm.evaluate._metrics.x_within_group_stats__mutmut_93":
        "the blocks of groups overlap or merge: the same values, recomputed (memory/time only)",
    # active.strategies
    "embrm.active._strategies.x__row_keys__mutmut_15":
        "keys stored as float64: still equal for a and -a; isin only prefilters, an exact check follows",
    "embrm.active._strategies.x__row_keys__mutmut_17":
        "keys stored as float64: still equal for a and -a; isin only prefilters, an exact check follows",
    "embrm.active._strategies.x__row_keys__mutmut_20":
        "hash block of 4097 rows, not 4096: the same keys",
    "embrm.active._strategies.x_log_det_information__mutmut_5":
        "D as given: information_matrix casts each chunk to float64",
    "embrm.active._strategies.x_log_det_information__mutmut_7":
        "D as given: information_matrix casts each chunk to float64",
    "embrm.active._strategies.x__quadratic_form__mutmut_10":
        "chunk loop with step 1: overlapping chunks, the same values recomputed (time only)",
    "embrm.active._strategies.x__quadratic_form__mutmut_23":
        "einsum subscripts in capitals: the same contraction",
    "embrm.active._strategies.x__top__mutmut_16":
        "kind='STABLE': numpy reads sort kinds case-insensitively",
    "embrm.active._strategies.x__top__mutmut_39":
        "kind='STABLE': numpy reads sort kinds case-insensitively",
    "embrm.active._strategies.xǁBaseStrategyǁselect__mutmut_16":
        "stacklevel: mutmut's trampolines add frames, so no mutated run tells them apart (checked unmutated)",
    "embrm.active._strategies.xǁBaseStrategyǁselect__mutmut_21":
        "stacklevel: mutmut's trampolines add frames, so no mutated run tells them apart (checked unmutated)",
    "embrm.active._strategies.xǁBaseStrategyǁselect__mutmut_23":
        "get_params(deep=None): falsy, the same shallow parameters",
    "embrm.active._strategies.xǁBaseStrategyǁselect__mutmut_24":
        "get_params(deep=True): no strategy parameter is an estimator, so no nested ones",
    "embrm.active._strategies.xǁBaseStrategyǁselect__mutmut_75":
        "eligible_mask computes the squared norms itself without sq: the same mask",
    "embrm.active._strategies.xǁBaseStrategyǁselect__mutmut_78":
        "eligible_mask computes the squared norms itself without sq: the same mask",
    "embrm.active._strategies.xǁBaseStrategyǁselect__mutmut_129":
        "every _pick returns int64 indices (64-bit Linux, macOS): the same array",
    "embrm.active._strategies.xǁBaseStrategyǁselect__mutmut_131":
        "every _pick returns int64 indices (64-bit Linux, macOS): the same array",
    "embrm.active._strategies.xǁ_PromptCapǁtake__mutmut_3":
        "select casts its result to int64 at the end; these indices are int64 already (64-bit Linux, macOS)",
    "embrm.active._strategies.xǁ_PromptCapǁtake__mutmut_5":
        "select casts its result to int64 at the end; these indices are int64 already (64-bit Linux, macOS)",
    "embrm.active._strategies.xǁ_PromptCapǁtake__mutmut_20":
        "a list of Python ints is int64 (64-bit Linux, macOS); take never returns empty here",
    "embrm.active._strategies.xǁ_PromptCapǁtake__mutmut_22":
        "a list of Python ints is int64 (64-bit Linux, macOS); take never returns empty here",
    "embrm.active._strategies.xǁBaseStrategyǁ_pick__mutmut_29":
        "empty float picked (no random share) makes the result float: select casts to int64",
    "embrm.active._strategies.xǁBaseStrategyǁ_pick__mutmut_31":
        "empty float picked (no random share) makes the result float: select casts to int64",
    "embrm.active._strategies.xǁBaseStrategyǁ_pick__mutmut_58":
        "select casts its result to int64 at the end; these indices are int64 already (64-bit Linux, macOS)",
    "embrm.active._strategies.xǁBaseStrategyǁ_pick__mutmut_60":
        "select casts its result to int64 at the end; these indices are int64 already (64-bit Linux, macOS)",
    "embrm.active._strategies.xǁ_Candidatesǁwith_labelled__mutmut_2":
        "None written into a bool array is False, the same value",
    "embrm.active._strategies.xǁ_Candidatesǁwith_labelled__mutmut_14":
        "labelled rows in float64: every reader casts them (to float64 or the pool's dtype)",
    "embrm.active._strategies.x__row_keys__mutmut_26":
        "hash loop with step 1: overlapping blocks, the same keys recomputed (time only)",
    "embrm.active._strategies.x__row_keys__mutmut_36":
        "keys from true division: still equal for a and -a; isin only prefilters, an exact check follows",
    "embrm.active._strategies.x_information_matrix__mutmut_20":
        "astype(None) is astype(float64)",
    "embrm.active._strategies.x__greedy__mutmut_21":
        "outer loop to batch_size + 1: the inner loop's while-else breaks it at batch_size",
    "embrm.active._strategies.x__greedy__mutmut_24":
        "float32 pools only: U as float64 (the u are), the refresh in float64; float32 rounding differs",
    "embrm.active._strategies.x__greedy__mutmut_26":
        "float32 pools only: U as float64 (the u are), the refresh in float64; float32 rounding differs",
    "embrm.active._strategies.x__greedy__mutmut_37":
        "astype(None) is astype(float64): the same array",
    "embrm.active._strategies.x__greedy__mutmut_10":
        "shortlist size: lazy greedy picks what a full downdate picks at any size, up to rounding (time)",
    "embrm.active._strategies.x__greedy__mutmut_11":
        "shortlist size: lazy greedy picks what a full downdate picks at any size, up to rounding (time)",
    "embrm.active._strategies.x__greedy__mutmut_12":
        "shortlist size: lazy greedy picks what a full downdate picks at any size, up to rounding (time)",
    "embrm.active._strategies.x__greedy__mutmut_13":
        "shortlist size: lazy greedy picks what a full downdate picks at any size, up to rounding (time)",
    "embrm.active._strategies.x__greedy__mutmut_14":
        "shortlist size: lazy greedy picks what a full downdate picks at any size, up to rounding (time)",
    "embrm.active._strategies.x__greedy__mutmut_15":
        "shortlist size: lazy greedy picks what a full downdate picks at any size, up to rounding (time)",
    "embrm.active._strategies.x__greedy__mutmut_17":
        "shortlist size: lazy greedy picks what a full downdate picks at any size, up to rounding (time)",
    "embrm.active._strategies.x__initial_gains__mutmut_9":
        "astype(None) is astype(float64): the same array",
    "embrm.active._strategies.x__initial_gains__mutmut_15":
        "Woodbury also at len(L) == d: the same inverse by another exact formula, rounding only",
    "embrm.active._strategies.x__initial_gains__mutmut_30":
        "float32 pools only: this product or square in float64, not float32; float32 rounding differs",
    "embrm.active._strategies.x__greedy__mutmut_60":
        "sort kind: only the order among exactly equal gains, which the jitter rules out",
    "embrm.active._strategies.x__greedy__mutmut_62":
        "sort kind: only the order among exactly equal gains, which the jitter rules out",
    "embrm.active._strategies.x__greedy__mutmut_65":
        "kind='STABLE': numpy reads sort kinds case-insensitively",
    "embrm.active._strategies.x__greedy__mutmut_67":
        "a higher threshold or a shorter shortlist: the inner loop refreshes sooner, the same picks (time)",
    "embrm.active._strategies.x__greedy__mutmut_68":
        "a higher threshold or a shorter shortlist: the inner loop refreshes sooner, the same picks (time)",
    "embrm.active._strategies.x__greedy__mutmut_69":
        "a higher threshold or a shorter shortlist: the inner loop refreshes sooner, the same picks (time)",
    "embrm.active._strategies.x__greedy__mutmut_77":
        "float32 pools only: this product or square in float64, not float32; float32 rounding differs",
    "embrm.active._strategies.x__greedy__mutmut_79":
        "float32 pools only: this product or square in float64, not float32; float32 rounding differs",
    "embrm.active._strategies.x__greedy__mutmut_86":
        "> for >= at the threshold: at exact equality a refresh comes first, the same picks (time)",
    "embrm.active._strategies.x__greedy__mutmut_108":
        "float32 pools only: this product or square in float64, not float32; float32 rounding differs",
    "embrm.active._strategies.x__greedy__mutmut_114":
        "float32 pools only: this product or square in float64, not float32; float32 rounding differs",
    "embrm.active._strategies.x__greedy__mutmut_116":
        "float32 pools only: this product or square in float64, not float32; float32 rounding differs",
    "embrm.active._strategies.x__check_differences__mutmut_5":
        "'XXfiuXX' holds the kinds f, i, u and X, and no dtype has kind X",
    "embrm.active._strategies.x__check_differences__mutmut_10":
        "astype(None) is astype(float64): the same array",
    "embrm.active._strategies.x_eligible_mask__mutmut_3":
        "squared norms recomputed though given: the same values (time)",
    "embrm.active._strategies.x_eligible_mask__mutmut_27":
        "axis=None: differs only if two labelled rows, neither equal nor opposite, share a 64-bit key",
    "embrm.active._strategies.x_eligible_mask__mutmut_29":
        "axis=None: differs only if two labelled rows, neither equal nor opposite, share a 64-bit key",
    "embrm.active._strategies.x_eligible_mask__mutmut_33":
        "axis=None: differs only if two labelled rows, neither equal nor opposite, share a 64-bit key",
    "embrm.active._strategies.x_eligible_mask__mutmut_35":
        "axis=None: differs only if two labelled rows, neither equal nor opposite, share a 64-bit key",
    "embrm.active._strategies.x_eligible_mask__mutmut_39":
        "None written into a bool array is False, the same value",
    "embrm.active._strategies.x_linear_margins__mutmut_28":
        "astype(None) is astype(float64): the same array",
    "embrm.active._strategies.x_linear_margins__mutmut_61":
        "float32 pools only: this product or square in float64, not float32; float32 rounding differs",
    "embrm.active._strategies.x_linear_margins__mutmut_76":
        "float32 pools only: this product or square in float64, not float32; float32 rounding differs",
    "embrm.active._strategies.x_linear_margins__mutmut_77":
        "astype(None) is astype(float64): the same array",
    "embrm.active._strategies.x__initial_gains__mutmut_38":
        "chunk loop with step 1: overlapping chunks, the same gains recomputed (time only)",
    "embrm.active._strategies.x__initial_gains__mutmut_41":
        "astype(None) is astype(float64): the same array",
    "embrm.active._strategies.x__initial_gains__mutmut_55":
        "einsum subscripts in capitals: the same contraction",
    "embrm.active._strategies.x__sherman_morrison__mutmut_2":
        "astype(None) is astype(float64): the same array",
    "embrm.active._strategies.x__check_values__mutmut_17":
        "initial=1.0: a row's largest value is compared with 1e6 only, and NaN still propagates",
    "embrm.active._strategies.x_squared_norms__mutmut_20":
        "float32 pools only: this product or square in float64, not float32; float32 rounding differs",
    "embrm.active._strategies.x_squared_norms__mutmut_24":
        "float32 pools only: this product or square in float64, not float32; float32 rounding differs",
    "embrm.active._strategies.x_squared_norms__mutmut_26":
        "einsum subscripts in capitals: the same contraction",
    "embrm.active._strategies.xǁVOptimalǁ_design__mutmut_14":
        "P scaled by a constant: every q and its downdate scale alike, the argmax does not move",
    "embrm.active._strategies.xǁVOptimalǁ_design__mutmut_15":
        "P scaled by a constant: every q and its downdate scale alike, the argmax does not move",
    "embrm.active._strategies.xǁVOptimalǁ_design__mutmut_72":
        "float32 pools only: this product in float64, not float32; float32 rounding differs",
    "embrm.active._strategies.xǁVOptimalǁ_design__mutmut_83":
        "float32 pools only: this product in float64, not float32; float32 rounding differs",
    "embrm.active._strategies.xǁVOptimalǁ_design__mutmut_92":
        "astype(None) is astype(float64): the same array",
    "embrm.active._strategies.xǁVOptimalǁ_design__mutmut_93":
        "astype(None) is astype(float64): the same array",
    "embrm.active._strategies.xǁVOptimalǁ_design__mutmut_113":
        "a list of Python ints is int64 (64-bit Linux, macOS): the same array",
    "embrm.active._strategies.xǁVOptimalǁ_design__mutmut_115":
        "a list of Python ints is int64 (64-bit Linux, macOS): the same array",
    "embrm.active._strategies.xǁDOptimalǁ_design__mutmut_15":
        "_greedy returns Python ints, int64 as an array (64-bit Linux, macOS): the same array",
    "embrm.active._strategies.xǁDOptimalǁ_design__mutmut_17":
        "_greedy returns Python ints, int64 as an array (64-bit Linux, macOS): the same array",
    "embrm.active._strategies.xǁKCenterǁ_choose__mutmut_8":
        "astype(None) is astype(float64): the same array",
    "embrm.active._strategies.xǁKCenterǁ_choose__mutmut_16":
        "einsum subscripts in capitals: the same contraction",
    "embrm.active._strategies.xǁKCenterǁ_choose__mutmut_22":
        "chunk loop with step 1: overlapping chunks, the same minima recomputed (time only)",
    "embrm.active._strategies.xǁKCenterǁ_choose__mutmut_25":
        "astype(None) is astype(float64): the same array",
    "embrm.active._strategies.xǁKCenterǁ_choose__mutmut_28":
        "float32 pools only: this product in float64, not float32; float32 rounding differs",
    "embrm.active._strategies.xǁKCenterǁ_choose__mutmut_51":
        "labelled blocks with step 1: overlapping blocks, the same minima (time only)",
    "embrm.active._strategies.xǁKCenterǁ_choose__mutmut_56":
        "labelled blocks of 1025 rows every 1024: one row absorbed twice, the same minima",
    "embrm.active._strategies.x__greedy__mutmut_56":
        "argpartition leaves the kth's neighbours sorted too: the threshold is still the best outside",
    "embrm.active._strategies.x__greedy__mutmut_57":
        "argpartition leaves the kth's neighbours sorted too: the threshold is still the best outside",
    "embrm.active._strategies.x_rescale_differences__mutmut_31":
        "norm == limit also divided: limit / norm is 1 there, the default",
    "embrm.active._strategies.xǁBayesianDesignǁ_choose__mutmut_3":
        'normalize="none" also rescaled: rescale_differences("none") is all ones, nothing changes',
    "embrm.active._strategies.xǁBayesianDesignǁ_choose__mutmut_4":
        'normalize="none" also rescaled: rescale_differences("none") is all ones, nothing changes',
    "embrm.active._strategies.xǁBayesianDesignǁ_choose__mutmut_7":
        'the cap limit also computed for "unit": rescale_differences reads the limit only for "cap"',
    "embrm.active._strategies.xǁBayesianDesignǁ_choose__mutmut_27":
        "the factor cast to float64: the product is cast back to the pool's dtype",
    "embrm.active._strategies.xǁBayesianDesignǁ_choose__mutmut_42":
        "labelled rows in float64: _initial_gains reads them as float64; no design reads the scaled ones",
    "embrm.active._strategies.xǁBayesianDesignǁ_choose__mutmut_44":
        "the factor cast to float64: the product is cast back to the labelled rows' dtype",
    "embrm.active._strategies.xǁBayesianDesignǁ_choose__mutmut_72":
        "the designs read only D and eligible of the scaled candidates (sq went to _initial_gains)",
    "embrm.active._strategies.xǁBayesianDesignǁ_choose__mutmut_73":
        "the designs read only D and eligible of the scaled candidates (labelled went to _initial_gains)",
    "embrm.active._strategies.xǁBayesianDesignǁ_choose__mutmut_76":
        "the designs read only D and eligible of the scaled candidates (sq went to _initial_gains)",
    "embrm.active._strategies.xǁBayesianDesignǁ_choose__mutmut_77":
        "the designs read only D and eligible of the scaled candidates (labelled went to _initial_gains)",
    # evaluate.bootstrap
    "embrm.evaluate._bootstrap.x__resample_counts__mutmut_25":
        "randint(n_groups, size=...) is randint(0, n_groups, size=...): the same draws",
    "embrm.evaluate._bootstrap.x__resample_counts__mutmut_33":
        "astype(None) is astype(float64): the same array",
    "embrm.evaluate._bootstrap.x_percentile_interval__mutmut_18":
        "ignore every warning, not only RuntimeWarning: nanquantile of float samples warns nothing else",
    # heads.bt
    "embrm.heads._bt.xǁBTLinearǁ_fit__mutmut_15":
        "astype(None) is astype(float64): the same array",
    # heads.classifier
    # heads.base
    "embrm.heads._base.xǁBaseHeadǁfit__mutmut_7":
        "get_params(deep=None) is get_params(deep=False): None is falsy",
    "embrm.heads._base.xǁBaseHeadǁfit__mutmut_8":
        "get_params(deep=True) adds nested keys; validate_params reads only the constrained ones",
    "embrm.heads._base.xǁBaseHeadǁfit__mutmut_53":
        "getattr default None for False: both falsy",
    "embrm.heads._base.xǁBaseHeadǁfit__mutmut_62":
        "warnings.warn with category None warns a UserWarning, the same",
    "embrm.heads._base.xǁBaseHeadǁfit__mutmut_65":
        "warnings.warn without a category warns a UserWarning, the same",
    "embrm.heads._base.xǁBaseHeadǁreward__mutmut_15":
        "reshape(-2): numpy reads any negative size as 'the rest', like -1",
    "embrm.heads._base.xǁBaseHeadǁ_check_pairs__mutmut_3":
        "the head is fitted by then (score and predict_proba check first), so the method label is never read",
    "embrm.heads._base.xǁBaseHeadǁ_check_pairs__mutmut_8":
        "the head is fitted by then (score and predict_proba check first), so the method label is never read",
    "embrm.heads._base.xǁBaseHeadǁ_check_pairs__mutmut_9":
        "the head is fitted by then (score and predict_proba check first), so the method label is never read",
    "embrm.heads._base.xǁBaseHeadǁ_check_pairs__mutmut_13":
        "the head is fitted by then (score and predict_proba check first), so the method label is never read",
    "embrm.heads._base.xǁBaseHeadǁ_check_pairs__mutmut_18":
        "the head is fitted by then (score and predict_proba check first), so the method label is never read",
    "embrm.heads._base.xǁBaseHeadǁ_check_pairs__mutmut_19":
        "the head is fitted by then (score and predict_proba check first), so the method label is never read",
    "embrm.heads._base.x_fit_temperature__mutmut_14":
        "method=None with bounds is scipy's 'bounded' method",
    "embrm.heads._base.x_fit_temperature__mutmut_17":
        "no method with bounds is scipy's 'bounded' method",
    "embrm.heads._base.x_fit_temperature__mutmut_22":
        "'BOUNDED': scipy lower-cases the method name",
    # embed.token_rewards
    "embrm.embed._token_rewards.x_token_rewards__mutmut_5":
        "getattr default None for False: both falsy, the same refusal",
    "embrm.embed._token_rewards.x_token_rewards__mutmut_48":
        "zip's strict=True: the zipped sequences have one entry per text by construction (same length)",
    "embrm.embed._token_rewards.x_token_rewards__mutmut_52":
        "zip's strict=True: the zipped sequences have one entry per text by construction (same length)",
    "embrm.embed._token_rewards.x_token_rewards__mutmut_57":
        "zip's strict=True: the zipped sequences have one entry per text by construction (same length)",
    "embrm.embed._token_rewards.x_token_rewards__mutmut_78":
        "zip's strict=True: the zipped sequences have one entry per text by construction (same length)",
    "embrm.embed._token_rewards.x_token_rewards__mutmut_81":
        "zip's strict=True: the zipped sequences have one entry per text by construction (same length)",
    "embrm.embed._token_rewards.x_token_rewards__mutmut_82":
        "zip's strict=True: the zipped sequences have one entry per text by construction (same length)",
    "embrm.embed._token_rewards.x_token_rewards__mutmut_111":
        "zip's strict=True: the zipped sequences have one entry per text by construction (same length)",
    "embrm.embed._token_rewards.x_token_rewards__mutmut_115":
        "zip's strict=True: the zipped sequences have one entry per text by construction (same length)",
    "embrm.embed._token_rewards.x_token_rewards__mutmut_120":
        "zip's strict=True: the zipped sequences have one entry per text by construction (same length)",
    "embrm.embed._token_rewards.x_token_rewards__mutmut_105":
        "astype(None) is astype(float64)",
    "embrm.embed._token_rewards.x_linear_form__mutmut_33":
        "astype(None) is astype(float64)",
    "embrm.embed._token_rewards.x_token_vectors__mutmut_3":
        "model2vec runs processes only past 10,000 texts, and they return the same sequences",
    "embrm.embed._token_rewards.x_token_vectors__mutmut_5":
        "encode_as_sequence's max_length defaults to None: nothing is cut either way",
    "embrm.embed._token_rewards.x_token_vectors__mutmut_6":
        "model2vec runs processes only past 10,000 texts, and they return the same sequences",
    "embrm.embed._token_rewards.x_token_vectors__mutmut_8":
        "model2vec runs processes only past 10,000 texts, and they return the same sequences",
    "embrm.embed._token_rewards.x_token_vectors__mutmut_19":
        "lengths always agree (one encoding per text, one offset per id): strict never fires",
    "embrm.embed._token_rewards.x_token_vectors__mutmut_22":
        "lengths always agree (one encoding per text, one offset per id): strict never fires",
    "embrm.embed._token_rewards.x_token_vectors__mutmut_23":
        "lengths always agree (one encoding per text, one offset per id): strict never fires",
    "embrm.embed._token_rewards.x_token_vectors__mutmut_27":
        "lengths always agree (one encoding per text, one offset per id): strict never fires",
    "embrm.embed._token_rewards.x_token_vectors__mutmut_30":
        "lengths always agree (one encoding per text, one offset per id): strict never fires",
    "embrm.embed._token_rewards.x_token_vectors__mutmut_31":
        "lengths always agree (one encoding per text, one offset per id): strict never fires",
    "embrm.embed._token_rewards.x_token_vectors__mutmut_34":
        "the message of a check that cannot fire (pragma: no cover)",
    "embrm.embed._token_rewards.x_token_vectors__mutmut_35":
        "the message of a check that cannot fire (pragma: no cover)",
    "embrm.embed._token_rewards.x_token_vectors__mutmut_36":
        "the message of a check that cannot fire (pragma: no cover)",
    # policy.scoring
    "embrm.policy._scoring.x_check_candidates__mutmut_16":
        "zip's strict=True: the lengths are equal by construction (checked or built one per prompt)",
    "embrm.policy._scoring.x_check_candidates__mutmut_19":
        "zip's strict=True: the lengths are equal by construction (checked or built one per prompt)",
    "embrm.policy._scoring.x_check_candidates__mutmut_20":
        "zip's strict=True: the lengths are equal by construction (checked or built one per prompt)",
    "embrm.policy._scoring.x_score_candidates__mutmut_13":
        "zip's strict=True: the lengths are equal by construction (checked or built one per prompt)",
    "embrm.policy._scoring.x_score_candidates__mutmut_16":
        "zip's strict=True: the lengths are equal by construction (checked or built one per prompt)",
    "embrm.policy._scoring.x_score_candidates__mutmut_17":
        "zip's strict=True: the lengths are equal by construction (checked or built one per prompt)",
    "embrm.policy._scoring.x_score_candidates__mutmut_20":
        "render_prompt's name: check_candidates rendered each prompt with its name first; none fails here",
    "embrm.policy._scoring.x_score_candidates__mutmut_22":
        "render_prompt's name: check_candidates rendered each prompt with its name first; none fails here",
    "embrm.policy._scoring.x_pick_best_of_n__mutmut_12":
        "index dtype: np.array of Python ints is int64 already (64-bit Linux, macOS)",
    "embrm.policy._scoring.x_pick_best_of_n__mutmut_14":
        "index dtype: np.array of Python ints is int64 already (64-bit Linux, macOS)",
    "embrm.policy._scoring.x_pick_best_of_n__mutmut_27":
        "zip's strict=True: the lengths are equal by construction (checked or built one per prompt)",
    "embrm.policy._scoring.x_pick_best_of_n__mutmut_30":
        "zip's strict=True: the lengths are equal by construction (checked or built one per prompt)",
    "embrm.policy._scoring.x_pick_best_of_n__mutmut_31":
        "zip's strict=True: the lengths are equal by construction (checked or built one per prompt)",
    "embrm.policy._scoring.x_pick_best_of_n__mutmut_38":
        "zip's strict=True: the lengths are equal by construction (checked or built one per prompt)",
    "embrm.policy._scoring.x_pick_best_of_n__mutmut_41":
        "zip's strict=True: the lengths are equal by construction (checked or built one per prompt)",
    "embrm.policy._scoring.x_pick_best_of_n__mutmut_42":
        "zip's strict=True: the lengths are equal by construction (checked or built one per prompt)",
    # policy.dpo
    "embrm.policy._dpo.x_preference_dataset__mutmut_74":
        "zip's strict=True: the lengths were checked equal just before",
    "embrm.policy._dpo.x_preference_dataset__mutmut_78":
        "zip's strict=True: the lengths were checked equal just before",
    "embrm.policy._dpo.x_preference_dataset__mutmut_79":
        "zip's strict=True: the lengths were checked equal just before",
    "embrm.policy._dpo.x_preference_dataset__mutmut_87":
        "reshape(-2): numpy reads any negative size as 'the rest', as it does -1",
    "embrm.policy._dpo.x_preference_dataset__mutmut_113":
        "list(prompt) only copies the messages; the dataset row holds the same ones",
    "embrm.policy._dpo.x_preference_dataset__mutmut_12":
        "stacklevel: mutmut's trampolines add frames, so no mutated run tells them apart (checked unmutated)",
    "embrm.policy._dpo.x_preference_dataset__mutmut_17":
        "stacklevel: mutmut's trampolines add frames, so no mutated run tells them apart (checked unmutated)",
    # model_selection
    "embrm.model_selection.x__base_seed__mutmut_5":
        "randint truncates the float bound 1073741823.5 to the same int bound",
    "embrm.model_selection.x_response_length__mutmut_1":
        "astype(None) is astype(float64)",
    "embrm.model_selection.x_length_features__mutmut_4":
        "astype(None) is astype(float64)",
    "embrm.model_selection.x_baseline_rewards__mutmut_9":
        "astype(None) is astype(float64)",
    "embrm.model_selection.x_attack_rank__mutmut_3":
        "rewards as given: integer rewards compare exactly with float ones, the same counts",
    "embrm.model_selection.x_attack_rank__mutmut_5":
        "rewards as given: integer rewards compare exactly with float ones, the same counts",
    "embrm.model_selection.x_attack_rank__mutmut_50":
        "rewards as given: integer rewards compare exactly with float ones, the same counts",
    "embrm.model_selection.x_attack_rank__mutmut_52":
        "rewards as given: integer rewards compare exactly with float ones, the same counts",
    "embrm.model_selection.x_attack_rank__mutmut_35":
        "position <= size: at position == size the label check that follows is False anyway",
    "embrm.model_selection.x_attack_rank__mutmut_54":
        "argsort kind: groups_attack holds each prompt once (checked), so no ties to order",
    "embrm.model_selection.x_attack_rank__mutmut_56":
        "argsort kind: groups_attack holds each prompt once (checked), so no ties to order",
    "embrm.model_selection.x_attack_rank__mutmut_58":
        "kind='STABLE': numpy reads sort kinds case-insensitively",
    # embed.cache (first pass unfinished: listed from the survivors seen so far)
    "embrm.embed._cache.xǁVectorCacheǁcontains__mutmut_4":
        "Series dtype: polars infers Binary from bytes keys; an empty query is an empty answer either way",
    "embrm.embed._cache.xǁVectorCacheǁcontains__mutmut_6":
        "Series dtype: polars infers Binary from bytes keys; an empty query is an empty answer either way",
    "embrm.embed._cache.xǁVectorCacheǁlocate__mutmut_46":
        "argsort kind: the order of a shard's rows in the query does not matter, each keeps its own row",
    "embrm.embed._cache.xǁVectorCacheǁlocate__mutmut_48":
        "argsort kind: the order of a shard's rows in the query does not matter, each keeps its own row",
    "embrm.embed._cache.xǁVectorCacheǁlocate__mutmut_50":
        "kind='STABLE': numpy reads sort kinds case-insensitively",
    "embrm.embed._cache.xǁVectorCacheǁlocate__mutmut_59":
        "the last bound None: order[start:None] slices to the end, len(order)",
    "embrm.embed._cache.xǁVectorCacheǁlocate__mutmut_66":
        "zip's strict=True: used and the bounds have one entry per shard used by construction",
    "embrm.embed._cache.xǁVectorCacheǁlocate__mutmut_70":
        "zip's strict=True: used and the bounds have one entry per shard used by construction",
    "embrm.embed._cache.xǁVectorCacheǁlocate__mutmut_74":
        "zip's strict=True: used and the bounds have one entry per shard used by construction",
    "embrm.embed._cache.xǁVectorCacheǁinfo__mutmut_4":
        "glob of a folder that does not exist yields nothing: 0 bytes either way",
    "embrm.embed._cache.xǁVectorCacheǁput__mutmut_115":
        "dtype None: the record then reads the dtype back from the shard just written, the same",
    "embrm.embed._cache.xǁVectorCacheǁ_write_file__mutmut_3":
        "atomic_write's what: only in its OutputWriteError, which cache_write_error replaces (OS reason)",
    "embrm.embed._cache.xǁVectorCacheǁ_write_file__mutmut_6":
        "atomic_write's what: only in its OutputWriteError, which cache_write_error replaces (OS reason)",
    "embrm.embed._cache.xǁVectorCacheǁ_write_file__mutmut_10":
        "atomic_write's what: only in its OutputWriteError, which cache_write_error replaces (OS reason)",
    "embrm.embed._cache.xǁVectorCacheǁ_write_file__mutmut_11":
        "atomic_write's what: only in its OutputWriteError, which cache_write_error replaces (OS reason)",
    "embrm.embed._cache.xǁVectorCacheǁ_write_file__mutmut_5":
        "atomic_write's default mode is 'wb', the mode given",
    "embrm.embed._cache.xǁVectorCacheǁ_write_rebuilt_manifest__mutmut_36":
        "'NAME' not copied: the next line sets the entry's name anyway",
    "embrm.embed._cache.x__make_record__mutmut_9":
        "mmap_mode None loads the whole array: the same dtype is read",
    # data.io
    "embrm.data._io.x__quote_column__mutmut_19":
        "quoted = None instead of False: only its truth is read",
    "embrm.data._io.x__quote_column__mutmut_26":
        "a closing quote at the very end of the text: returning there gives the field the loop ends with",
    "embrm.data._io.x__quote_column__mutmut_28":
        "a closing quote before a line break ends its record: never before the error of the failing record",
    "embrm.data._io.x__quote_column__mutmut_29":
        "a closing quote before a line break ends its record: never before the error of the failing record",
    "embrm.data._io.x__bad_byte_place__mutmut_9":
        "next's default: the text holds a bad byte, so it has a first record and the default is never used",
    "embrm.data._io.x__bad_byte_place__mutmut_11":
        "next's default: the text holds a bad byte, so it has a first record and the default is never used",
    "embrm.data._io.x__strip_implicit_prompt__mutmut_5":
        "zip's strict: chosen and rejected are columns of one frame, always of one length",
    "embrm.data._io.x__strip_implicit_prompt__mutmut_8":
        "zip's strict: chosen and rejected are columns of one frame, always of one length",
    "embrm.data._io.x__strip_implicit_prompt__mutmut_13":
        "zip's strict: chosen and rejected are columns of one frame, always of one length",
    "embrm.data._io.x__strip_implicit_prompt__mutmut_76":
        "dtype dropped: a list of str is a String series (an empty frame is refused as empty first)",
    "embrm.data._io.x__strip_implicit_prompt__mutmut_79":
        "dtype dropped: a list of str is a String series (an empty frame is refused as empty first)",
    "embrm.data._io.x__strip_implicit_prompt__mutmut_84":
        "dtype dropped: a list of str is a String series (an empty frame is refused as empty first)",
    "embrm.data._io.x__strip_implicit_prompt__mutmut_87":
        "dtype dropped: a list of str is a String series (an empty frame is refused as empty first)",
    "embrm.data._io.x__table_cell__mutmut_16":
        "'UTF-8': Python reads codec names case-insensitively",
    "embrm.data._io.x__table_series__mutmut_6":
        "strict dropped: polars' Series is strict by default",
    "embrm.data._io.x__parquet_table__mutmut_59":
        "'or': a Null column with another rule is refused as missing first; String cast to String is a no-op",
    "embrm.data._io.x_peek_columns__mutmut_33":
        "'UTF-8': Python reads codec names case-insensitively",
    "embrm.data._io.x_peek_columns__mutmut_40":
        "next's default: the line is not blank, so csv reads one record from it",
    "embrm.data._io.x__strip_implicit_prompt__mutmut_92":
        "dtype dropped: a list of str is a String series (an empty frame is refused as empty first)",
    "embrm.data._io.x__strip_implicit_prompt__mutmut_95":
        "dtype dropped: a list of str is a String series (an empty frame is refused as empty first)",
    "embrm.data._io.x__read_csv__mutmut_26":
        "source None: CSV cells are checked before and UTF-8 text has no lone surrogate: no error names it",
    "embrm.data._io.x__parse_csv__mutmut_14":
        "header None before the first record: only read as 'header and', where None and [] are both false",
    "embrm.data._io.x__parse_csv__mutmut_62":
        "zip's strict: the row's length was checked against the header's just before",
    "embrm.data._io.x__parse_csv__mutmut_65":
        "zip's strict: the row's length was checked against the header's just before",
    "embrm.data._io.x__parse_csv__mutmut_66":
        "zip's strict: the row's length was checked against the header's just before",
    "embrm.data._io.x__parse_csv__mutmut_74":
        "lines joined with XXXX: each line keeps its line break, so the filler follows one, no field",
    "embrm.data._io.x__kind_of__mutmut_3":
        "the exact names also match themselves in get_close_matches, which decides alone",
    "embrm.data._io.x__kind_of__mutmut_4":
        "the exact names also match themselves in get_close_matches, which decides alone",
    "embrm.data._io.x__kind_of__mutmut_5":
        "the exact names also match themselves in get_close_matches, which decides alone",
    "embrm.data._io.x__kind_of__mutmut_6":
        "the exact names also match themselves in get_close_matches, which decides alone",
    "embrm.data._io.x__kind_of__mutmut_13":
        "get_close_matches' n: only whether any name matches is read",
    "embrm.data._io.x__kind_of__mutmut_19":
        "get_close_matches' n: only whether any name matches is read",
    "embrm.data._io.x__check_columns__mutmut_69":
        "stacklevel: mutmut's trampolines add frames, so no mutated run tells them apart (checked unmutated)",
    "embrm.data._io.x__check_columns__mutmut_71":
        "stacklevel: mutmut's trampolines add frames, so no mutated run tells them apart (checked unmutated)",
    "embrm.data._io.x__check_rows__mutmut_21":
        "stacklevel: mutmut's trampolines add frames, so no mutated run tells them apart (checked unmutated)",
    "embrm.data._io.x__check_rows__mutmut_27":
        "stacklevel: mutmut's trampolines add frames, so no mutated run tells them apart (checked unmutated)",
    "embrm.data._io.x__check_rows__mutmut_133":
        "stacklevel: mutmut's trampolines add frames, so no mutated run tells them apart (checked unmutated)",
    "embrm.data._io.x__check_rows__mutmut_141":
        "stacklevel: mutmut's trampolines add frames, so no mutated run tells them apart (checked unmutated)",
    "embrm.data._io.x__check_rows__mutmut_111":
        "identity holds required columns, always 2 or more, and no reader makes Object columns",
    "embrm.data._io.x__check_columns__mutmut_33":
        "get_close_matches' n: only the best match, close[0], is read",
    "embrm.data._io.x__check_columns__mutmut_34":
        "get_close_matches' default cutoff is 0.6, the one given",
    "embrm.data._io.x__check_columns__mutmut_35":
        "get_close_matches' n: only the best match, close[0], is read",
    "embrm.data._io.x__columns_from_records__mutmut_46":
        "strict dropped: polars' Series is strict by default",
    "embrm.data._io.x__read_bytes_check__mutmut_8":
        "open's default mode 'r': the file is only opened (to check access), never read",
    "embrm.data._io.x__conversation_to_text__mutmut_13":
        "dtype dropped: a list of str is a String series (an empty frame is refused as empty first)",
    "embrm.data._io.x__conversation_to_text__mutmut_16":
        "dtype dropped: a list of str is a String series (an empty frame is refused as empty first)",
    "embrm.data._io.x__check_value__mutmut_34":
        "_CONVERSATIONAL is _TEXT, and this branch is for text columns only: the else is never taken",
    "embrm.data._io.x__check_value__mutmut_38":
        "_CONVERSATIONAL is _TEXT, and this branch is for text columns only: the else is never taken",
    "embrm.data._io.x__decode__mutmut_3":
        "'UTF-8': Python reads codec names case-insensitively",
    "embrm.data._io.x__decode__mutmut_16":
        "'UTF-8': Python reads codec names case-insensitively",
    "embrm.data._io.x__decode__mutmut_52":
        "'UTF-8': Python reads codec names case-insensitively",
    "embrm.data._io.x__decode__mutmut_22":
        "fallback line: _bad_byte_place finds every bad byte (a CSV field, a JSONL line); it is never used",
    "embrm.data._io.x__decode__mutmut_23":
        "fallback line: _bad_byte_place finds every bad byte (a CSV field, a JSONL line); it is never used",
    "embrm.data._io.x__decode__mutmut_24":
        "fallback line: _bad_byte_place finds every bad byte (a CSV field, a JSONL line); it is never used",
    "embrm.data._io.x__decode__mutmut_25":
        "fallback line: _bad_byte_place finds every bad byte (a CSV field, a JSONL line); it is never used",
    "embrm.data._io.x__decode__mutmut_42":
        "next's default: the text is not empty, so csv reads a record (maybe []) from its first line",
    "embrm.data._io.x__decode__mutmut_44":
        "next's default: the text is not empty, so csv reads a record (maybe []) from its first line",
    "embrm.data._io.x__columns_from_records__mutmut_21":
        "_check_value checks text, number and id columns only: group, response_id and others pass unchanged",
    "embrm.data._io.x__columns_from_records__mutmut_24":
        "_check_value checks text, number and id columns only: group, response_id and others pass unchanged",
    "embrm.data._io.x__columns_from_records__mutmut_25":
        "_check_value checks text, number and id columns only: group, response_id and others pass unchanged",
    "embrm.data._io.x__columns_from_records__mutmut_26":
        "_check_value checks text, number and id columns only: group, response_id and others pass unchanged",
    "embrm.data._io.x__columns_from_records__mutmut_27":
        "_check_value checks text, number and id columns only: group, response_id and others pass unchanged",
    "embrm.data._io.x__columns_from_records__mutmut_41":
        "the Series' name: pl.DataFrame names each column by its dict key",
    "embrm.data._io.x__columns_from_records__mutmut_44":
        "the Series' name: pl.DataFrame names each column by its dict key",
    "embrm.data._io.x__check_columns__mutmut_8":
        "with a prompt column and chosen, rejected present as lists, no required column is missing anyway",
    "embrm.data._io.x__check_columns__mutmut_9":
        "with a prompt column and chosen, rejected present as lists, no required column is missing anyway",

    "embrm.embed._cache.x__make_record__mutmut_11":
        "mmap_mode dropped (None) loads the whole array: the same dtype is read",
    "embrm.embed._cache.xǁVectorCacheǁput__mutmut_54":
        "keep='any': polars 2.x keeps the first row too; duplicate keys are one text, of one vector",
    "embrm.embed._cache.xǁVectorCacheǁ_verify__mutmut_7":
        "the stand-in metadata of a missing manifest is read only by meta.get('dim'): None either way",
    "embrm.embed._cache.xǁVectorCacheǁ_verify__mutmut_8":
        "the stand-in metadata of a missing manifest is read only by meta.get('dim'): None either way",
    "embrm.embed._cache.xǁVectorCacheǁ_verify__mutmut_66":
        "partition_by of an empty manifest is an empty dict, the value given",
    "embrm.embed._cache.xǁVectorCacheǁ_verify__mutmut_72":
        "include_key: the partitions are read only by column name ('row', 'key')",
    "embrm.embed._cache.xǁVectorCacheǁ_verify__mutmut_76":
        "include_key: the partitions are read only by column name ('row', 'key')",
    "embrm.embed._cache.xǁVectorCacheǁ_write_rebuilt_manifest__mutmut_15":
        "Series dtype: polars infers Binary from bytes keys; no shard without rows is ever written",
    "embrm.embed._cache.xǁVectorCacheǁ_write_rebuilt_manifest__mutmut_17":
        "Series dtype: polars infers Binary from bytes keys; no shard without rows is ever written",
    "embrm.embed._cache.xǁVectorCacheǁ_write_rebuilt_manifest__mutmut_35":
        "'name' not copied: the next line sets the entry's name anyway",
    "embrm.embed._cache.xǁVectorCacheǁ_write_rebuilt_manifest__mutmut_56":
        "keep='any': polars 2.x keeps the first row too; two shards' rows of one key hold one text's vector",
    "embrm.embed._cache.xǁVectorCacheǁ_write_rebuilt_manifest__mutmut_57":
        "manifest row order: never read, every lookup joins on the key (and sorts by shard, row)",
    "embrm.embed._cache.xǁVectorCacheǁ_write_rebuilt_manifest__mutmut_63":
        "manifest row order: never read, every lookup joins on the key (and sorts by shard, row)",
    "embrm.embed._cache.xǁVectorCacheǁ_write_manifest__mutmut_6":
        "atomic_write's what: only in its OutputWriteError, which cache_write_error replaces (OS reason)",
    "embrm.embed._cache.xǁVectorCacheǁ_write_manifest__mutmut_9":
        "atomic_write's what: only in its OutputWriteError, which cache_write_error replaces (OS reason)",
    "embrm.embed._cache.xǁVectorCacheǁ_write_manifest__mutmut_13":
        "atomic_write's what: only in its OutputWriteError, which cache_write_error replaces (OS reason)",
    "embrm.embed._cache.xǁVectorCacheǁ_write_manifest__mutmut_14":
        "atomic_write's what: only in its OutputWriteError, which cache_write_error replaces (OS reason)",
    "embrm.embed._cache.xǁVectorCacheǁ_write_manifest__mutmut_8":
        "atomic_write's default mode is 'wb', the mode given",
    "embrm.embed._cache.xǁVectorCacheǁ_write_manifest__mutmut_22":
        "compression='ZSTD': pyarrow reads codec names case-insensitively",
    "embrm.embed._cache.xǁVectorCacheǁ_write_manifest__mutmut_23":
        "'' for None: the rewritten manifest is a new file (new inode), so the cached one is never reused",
    "embrm.embed._cache.xǁVectorCacheǁ_shard__mutmut_15":
        "'' for None: falsy (the 'missing' branch) and equal to no stored signature",
    "embrm.embed._cache.xǁVectorCacheǁ_shard__mutmut_27":
        "a stale open shard left behind is reused only while its files, entry and dimension are unchanged",
    "embrm.embed._cache.xǁVectorCacheǁverify__mutmut_28":
        "repair=None is falsy: the same read-only check",
    "embrm.embed._cache.xǁVectorCacheǁ_verify__mutmut_107":
        "entries has no key (None,): get gives None, as the else branch",
    "embrm.embed._cache.xǁVectorCacheǁ_verify__mutmut_166":
        "the keys check's problem text is never reported, only whether there is one",
    "embrm.embed._cache.xǁVectorCacheǁ_verify__mutmut_167":
        "the keys check's problem text is never reported, only whether there is one",
    "embrm.embed._cache.xǁVectorCacheǁ_verify__mutmut_211":
        "a count of 1 more for every dimension: the one with most vectors stays so",
    "embrm.embed._cache.xǁVectorCacheǁ_verify__mutmut_219":
        "minimum 0 for 1: dimension 0 is never in by_dim (records have dim >= 1)",
    "embrm.embed._cache.xǁVectorCacheǁ_verify__mutmut_241":
        "state 'ok' here means _meta_problem found nothing: the manifest's dim is a positive int already",
    "embrm.embed._cache.xǁVectorCacheǁ_verify__mutmut_242":
        "state 'ok' here means _meta_problem found nothing: the manifest's dim is a positive int already",
    "embrm.embed._cache.xǁVectorCacheǁ_verify__mutmut_330":
        "locked falsy: a repair leaves a manifest file, so the branch taking a second lock is never run",
    "embrm.embed._cache.xǁVectorCacheǁ_verify__mutmut_331":
        "locked falsy: a repair leaves a manifest file, so the branch taking a second lock is never run",
    "embrm.embed._cache.xǁVectorCacheǁget__mutmut_17":
        "rows unsorted inside a shard: only the read order changes, each row goes to its own position",
    "embrm.embed._cache.xǁVectorCacheǁget__mutmut_23":
        "join's default how is 'inner', the one given",
    "embrm.embed._cache.xǁVectorCacheǁget__mutmut_75":
        "the last bound None: rows[start:None] slices to the end, len(shard_col)",
    "embrm.embed._cache.xǁVectorCacheǁget__mutmut_81":
        "zip's strict=True: the shards and the bounds have one entry per shard hit by construction",
    "embrm.embed._cache.xǁVectorCacheǁget__mutmut_85":
        "zip's strict=True: the shards and the bounds have one entry per shard hit by construction",
    "embrm.embed._cache.xǁVectorCacheǁget__mutmut_89":
        "zip's strict=True: the shards and the bounds have one entry per shard hit by construction",
    "embrm.embed._cache.x__file_checksum__mutmut_13":
        "block size: the CRC-32 of a file is the same read in blocks of any size",
    "embrm.embed._cache.x__file_checksum__mutmut_14":
        "block size: the CRC-32 of a file is the same read in blocks of any size",
    "embrm.embed._cache.x__keys_matrix__mutmut_5":
        "Series dtype: every caller passes bytes (from a Binary column), from which polars infers Binary",
    "embrm.embed._cache.x__keys_matrix__mutmut_7":
        "Series dtype: every caller passes bytes (from a Binary column), from which polars infers Binary",
    "embrm.embed._cache.x__keys_matrix__mutmut_22":
        "an empty key matrix is never compared: only locate of no keys makes one, and it opens no shard",
    "embrm.embed._cache.x__keys_matrix__mutmut_24":
        "an empty key matrix is never compared: only locate of no keys makes one, and it opens no shard",
    "embrm.embed._cache.x__keys_matrix__mutmut_25":
        "np.empty(1) for 0: the slice data[0:0] of it is empty all the same",
    "embrm.embed._cache.x__keys_matrix__mutmut_35":
        "reshape(-2, 16): numpy reads any negative size as the unknown one",
    "embrm.embed._cache.x__entry_problem__mutmut_16":
        "_is_int's default minimum is 0, the minimum of every _ENTRY_FIELDS field",
    "embrm.embed._cache.xǁVectorCacheǁget__mutmut_15":
        "sort('shard', None) sorts by shard only: only the read order inside a shard changes",
    "embrm.embed._cache.x__file_checksum__mutmut_11":
        "read(None) reads the rest of the file at once: the same CRC-32",
    "embrm.embed._cache.x__is_int__mutmut_1":
        "default minimum 1: used for record fields a put never writes as 0 (rows, sizes; CRCs at odds 2^-32)",
    "embrm.embed._cache.xǁVectorCacheǁ__init____mutmut_14":
        "'' for None at start: the first read compares a stat tuple with it (never equal) and overwrites it",
    "embrm.embed._cache.xǁVectorCacheǁ__init____mutmut_15":
        "'' for None at start: the first read compares a stat tuple with it (never equal) and overwrites it",
    "embrm.embed._cache.xǁVectorCacheǁ__init____mutmut_16":
        "'' for None at start: the first read compares a stat tuple with it (never equal) and overwrites it",
    "embrm.embed._cache.x__keys_matrix__mutmut_2":
        "every key column is a Binary Series: pl.Series(it, dtype=pl.Binary) is the same Series",
    "embrm.embed._cache.x__keys_matrix__mutmut_12":
        "polars' Series.to_arrow gives one Array (it rechunks), never a ChunkedArray",
    "embrm.embed._cache.x__keys_matrix__mutmut_15":
        "an empty fixed-size binary array has an empty data buffer: the same empty matrix",
    # heads.linear
    "embrm.heads._linear.x_minimize_preconditioned__mutmut_8":
        "-1e-12 on a diagonal of at least alpha keeps it positive definite; it only preconditions",
    "embrm.heads._linear.x_minimize_preconditioned__mutmut_46":
        "scipy reads the method name case-insensitively: the same L-BFGS-B",
    "embrm.heads._linear.x_hessian_at_zero__mutmut_2":
        "the Gram matrix is square: shape[1] is shape[0]",
    "embrm.heads._linear.x_minimize_preconditioned__mutmut_2":
        "the Hessian at zero is square: shape[1] is shape[0]",
    "embrm.heads._linear.x_fit_linear_logistic__mutmut_66":
        "sign is +1 or -1, so dividing by it is multiplying by it",
    "embrm.heads._linear.x_fit_response_logistic__mutmut_8":
        "astype(None) is float64, the same conversion",
    "embrm.heads._linear.x_fit_streamed_logistic__mutmut_28":
        "the sampled Hessian only preconditions: float64 instead of float32 moves no optimum",
    "embrm.heads._linear.x_fit_streamed_logistic__mutmut_29":
        "the sampled Hessian only preconditions: float64 instead of float32 moves no optimum",
    "embrm.heads._linear.x_fit_streamed_logistic__mutmut_33":
        "the sampled Hessian only preconditions: a wrong intercept column moves no optimum",
    "embrm.heads._linear.x_fit_streamed_logistic__mutmut_34":
        "the sampled Hessian only preconditions: a wrong intercept column moves no optimum",
    "embrm.heads._linear.x_fit_streamed_logistic__mutmut_90":
        "the intercept is discarded when the head fits none (fit_indexed keeps it only then)",
    "embrm.heads._linear.xǁIndexedLinearFitǁfit_indexed__mutmut_9":
        "a linear head has no nested estimator: get_params(deep=None) lists the same",
    "embrm.heads._linear.xǁIndexedLinearFitǁfit_indexed__mutmut_10":
        "a linear head has no nested estimator: get_params(deep=True) lists the same",
    # heads.sparse (and this session's heads.bt / heads.linear survivors)
    "embrm.heads._linear.x_minimize_preconditioned__mutmut_62":
        "stacklevel: mutmut's trampolines add frames, so no mutated run tells them apart (checked unmutated)",
    "embrm.heads._bt.xǁBTLinearǁ_fit__mutmut_31":
        "astype(None) is float64, the same conversion",
    "embrm.heads._sparse.x_fit_sparse_bt__mutmut_21":
        "a pair's sign flips its row and label alike: any signs with both classes are the same objective",
    "embrm.heads._sparse.x_fit_sparse_bt__mutmut_23":
        "a pair's sign flips its row and label alike: any signs with both classes are the same objective",
    "embrm.heads._sparse.x_fit_sparse_bt__mutmut_24":
        "a pair's sign flips its row and label alike: any signs with both classes are the same objective",
    "embrm.heads._sparse.x_fit_sparse_bt__mutmut_25":
        "a pair's sign flips its row and label alike: any signs with both classes are the same objective",
    "embrm.heads._sparse.x_fit_sparse_bt__mutmut_32":
        "astype(None) is float64, the same conversion",
    "embrm.heads._sparse.x_fit_sparse_bt__mutmut_54":
        "labels as floats 1.0/0.0: scikit-learn finds the same two classes",
    "embrm.heads._sparse.x_fit_sparse_bt__mutmut_55":
        "sign is +1 or -1, never 0: >= 0 picks the same rows as > 0",
    "embrm.heads._sparse.x_check_rows__mutmut_23":
        "astype(None) of a scipy sparse matrix is float64, the same conversion",
    "embrm.heads._base.xǁBaseHeadǁfit__mutmut_55":
        "getattr's default None or False: both falsy, the same branch",
    "embrm.heads._base.xǁBaseHeadǁfit__mutmut_64":
        "warn's category None means UserWarning, the category given",
    "embrm.heads._base.xǁBaseHeadǁfit__mutmut_67":
        "warn's default category is UserWarning, the category given",
}
