"""HH-RLHF harmless: pairwise accuracy of every head on real human labels, K-fold CV.

2,307 human-labelled pairs (chosen = the less harmful answer); each pair is its own group
(one prompt per pair). Five folds: each head is trained on four and predicts the fifth, so
every pair is scored once out of fold. The pooled out-of-fold rewards give accuracy (ties
count one half), AUC of the reward margin and ECE of ``predict_proba``, with bootstrap CIs
over pairs; the per-fold accuracies give a mean and standard deviation. Baselines: a coin
(constant reward) and the longer answer.

    python experiments/hh_harmless.py           # 2,307 pairs
    python experiments/hh_harmless.py --quick   # the first 400 pairs
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

from embrm.evaluate import (  # noqa: E402
    ReliabilityDisplay,
    evaluate_pairs,
    pairwise_accuracy,
    symmetrize_pairs,
)
from embrm.model_selection import Report, cross_val_rewards  # noqa: E402

NAME = "hh_harmless"
TITLE = "HH-RLHF harmless pairwise accuracy"
HEAD_NAMES = ("bt-linear", "bt-mlp", "classifier", "classifier-mlp", "lgbm", "lgbm-pairwise",
              "ensemble-bt-linear", "drm")


def run(ctx: C.Context) -> tuple[pl.DataFrame, dict]:
    hh = C.load_hh(ctx)
    n = len(hh)
    results = {name: cross_val_rewards(make(ctx.seed), hh.data, (hh.X_win, hh.X_lose), cv=ctx.args.folds,
                                       random_state=ctx.seed)
               for name, make in C.heads(HEAD_NAMES).items()}
    proba = {name: r.held_out("predict_proba", hh.X_win, hh.X_lose) for name, r in results.items()}
    length_win = hh.data.frame["chosen"].str.len_chars().to_numpy().astype(float)
    length_lose = hh.data.frame["rejected"].str.len_chars().to_numpy().astype(float)
    rows = []
    for name, r_win, r_lose in (("coin", np.zeros(n), np.zeros(n)),
                                ("longer answer", length_win, length_lose)):
        rows.append({"head": name, **_evaluate(ctx, hh, r_win, r_lose)})
    for name, result in results.items():
        fold_acc = [pairwise_accuracy(result.reward_win[f.test_index], result.reward_lose[f.test_index])
                    for f in result.folds]
        rows.append({
            "head": name, **_evaluate(ctx, hh, result.reward_win, result.reward_lose, proba[name]),
            "fold_pairwise_accuracy_mean": float(np.mean(fold_acc)),
            "fold_pairwise_accuracy_sd": float(np.std(fold_acc, ddof=1)),
            "fit_seconds": result.fit_seconds,
            "n_train_pairs": round(result.n_train_pairs),
        })
    table = pl.DataFrame(rows, infer_schema_length=None)
    C.write_csv(ctx, table)
    _plot(ctx, table, proba)
    return table, {"n_pairs": n}


def _evaluate(ctx, hh, r_win, r_lose, proba=None) -> dict:
    return Report(evaluate_pairs(r_win, r_lose, hh.groups, proba=proba,
                                 n_bootstrap=ctx.args.n_bootstrap, random_state=ctx.seed)).to_dict()


def _plot(ctx: C.Context, table: pl.DataFrame, proba: dict[str, np.ndarray]) -> None:
    fig, (ax, ax2) = C.figure(ncols=2)
    t = table.sort("pairwise_accuracy")
    y = np.arange(t.height)
    ax.barh(y, t["pairwise_accuracy"], xerr=[t["pairwise_accuracy"] - t["pairwise_accuracy_ci_low"],
                                     t["pairwise_accuracy_ci_high"] - t["pairwise_accuracy"]], capsize=3)
    ax.set_yticks(y, t["head"].to_list())
    ax.axvline(0.5, color="grey", linestyle="--")
    ax.set(xlim=(0.4, max(0.8, float(t["pairwise_accuracy_ci_high"].max()) + 0.02)),
           xlabel="out-of-fold pairwise accuracy (95% CI)", title="hh-harmless, human labels")
    best = table.filter(pl.col("ece").is_not_null()).sort("pairwise_accuracy", descending=True)["head"][0]
    y_true, y_prob = symmetrize_pairs(proba[best])  # each pair in both orders
    ReliabilityDisplay.from_predictions(y_true, y_prob, name=best, ax=ax2)
    ax2.set_title(f"calibration of {best} (out of fold)")
    C.save_figure(ctx, fig, "accuracy")


def _headline(table: pl.DataFrame) -> tuple[dict, list[str]]:
    heads = table.filter(pl.col("fit_seconds").is_not_null()).sort("pairwise_accuracy", descending=True)
    best, worst = heads.row(0, named=True), heads.row(-1, named=True)
    longer = table.filter(pl.col("head") == "longer answer").row(0, named=True)
    headline = {r["head"]: C.fmt_ci(r, "pairwise_accuracy") for r in heads.iter_rows(named=True)}
    headline["longer answer"] = C.fmt_ci(longer, "pairwise_accuracy")
    findings = [
        f"Best head {best['head']}: accuracy {C.fmt_ci(best, 'pairwise_accuracy')} (per fold "
        f"{best['fold_pairwise_accuracy_mean']:.3f} ± {best['fold_pairwise_accuracy_sd']:.3f}), AUC "
        f"{best['auc']:.3f}, ECE {best['ece']:.3f}; worst {worst['head']} "
        f"{worst['pairwise_accuracy']:.3f}; the longer answer wins {longer['pairwise_accuracy']:.3f}.",
        f"{sum(r['pairwise_accuracy_ci_low'] > 0.5 for r in heads.iter_rows(named=True))} of "
        f"{heads.height} heads are above chance at 95% confidence.",
    ]
    return headline, findings


def main(argv: Sequence[str] | None = None) -> dict:
    ctx = C.parse_args(NAME, __doc__, argv, lambda p: C.add_folds(p, "folds (one group per pair)"))
    table, facts = run(ctx)
    show = table.select(
        "head", pl.struct(pl.all()).map_elements(lambda r: C.fmt_ci(r, "pairwise_accuracy"),
                                                 return_dtype=pl.String).alias("pairwise_accuracy [95% CI]"),
        "fold_pairwise_accuracy_mean", "fold_pairwise_accuracy_sd", "auc", "ece", "fit_seconds")
    C.print_table(f"{TITLE} ({ctx.args.folds}-fold CV, {facts['n_pairs']} pairs)", show)
    headline, findings = _headline(table)
    return C.write_summary(ctx, title=TITLE, headline=headline, findings=findings, setup={
        "pairs": facts["n_pairs"], "folds": ctx.args.folds, "heads": list(HEAD_NAMES),
        "pair_regime": "real human pairs (Anthropic HH-RLHF harmless-base test), no simulated noise",
        "n_bootstrap": ctx.args.n_bootstrap})


if __name__ == "__main__":
    main()
