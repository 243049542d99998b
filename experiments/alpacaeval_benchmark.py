"""AlpacaEval golden-reward benchmark: heads x training pairs x annotation noise.

Prompt-grouped K-fold (default 5): each head is trained on within-prompt pairs of the
prompts of K-1 folds and scores the 51 answers of every held-out prompt, so each prompt is
scored once, by a head that never saw it. The out-of-fold rewards of all prompts are then
evaluated together against the golden score logit(judge_pref): exact Best-of-N at
N = 4, 8, 16 and all 51, within-prompt Spearman and pairwise accuracy, with bootstrap CIs
over prompts; BoN also as a win rate against the reference (100 * judge_pref).
Baselines on the same prompts: random pick, longest response, the golden score.

    python experiments/alpacaeval_benchmark.py            # 805 prompts, ~5 min
    python experiments/alpacaeval_benchmark.py --quick    # 40 prompts, seconds
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

NAME = "alpacaeval_benchmark"
TITLE = "AlpacaEval golden-reward benchmark"
HEAD_NAMES = ("bt-linear", "bt-mlp", "classifier", "lgbm")
FULL = {"sizes": (500, 2000, 8000, None), "betas": (None, 2.0), "pairs_per_prompt": 50}
QUICK = {"sizes": (200, None), "betas": (None, 2.0), "pairs_per_prompt": 20}


def run(ctx: C.Context) -> pl.DataFrame:
    cfg = C.config(ctx, QUICK, FULL)
    sc = C.load_alpaca(ctx)
    oof = C.crossfit(sc, C.heads(HEAD_NAMES), betas=cfg["betas"], sizes=cfg["sizes"],
                     pairs_per_prompt=cfg["pairs_per_prompt"], n_splits=ctx.args.folds, seed=ctx.seed)
    table = C.crossfit_table(ctx, sc, oof)
    C.write_csv(ctx, table)
    _plot(ctx, table, sc, oof)
    return table


def _plot(ctx: C.Context, table: pl.DataFrame, sc: C.Scored, oof: dict) -> None:
    from embrm.evaluate import BestOfNDisplay, bon_curve

    heads = table.filter(pl.col("loss") != "baseline")
    betas = heads["beta"].unique(maintain_order=True).to_list()
    fig, axes = C.figure(ncols=len(betas))
    base = {r["head"]: r for r in table.filter(pl.col("loss") == "baseline").iter_rows(named=True)}
    for ax, beta in zip(axes, betas, strict=True):
        part = heads.filter(pl.col("beta") == beta)
        for name in HEAD_NAMES:
            h = part.filter(pl.col("head") == name).sort("n_train_pairs")
            ax.errorbar(h["n_train_pairs"], h["bon@all"],
                        yerr=[h["bon@all"] - h["bon@all_ci_low"], h["bon@all_ci_high"] - h["bon@all"]],
                        marker="o", capsize=3, label=name)
        for name, style in (("golden", ":"), ("longest", "-."), ("random", "--")):
            ax.axhline(base[name]["bon@all"], color="grey", linestyle=style, label=name)
        err = part["label_error_rate"].mean()
        ax.set(xscale="log", xlabel="training pairs", ylabel="golden logit of BoN@51 pick",
               title=f"beta = {beta} (label error {err:.1%})")
        ax.legend(fontsize=7)
    C.save_figure(ctx, fig, "bon_vs_pairs")
    # Full exact BoN curves N = 1..51: noiseless labels, all pairs, plus the longest answer.
    fig, (ax,) = C.figure()
    for i, name in enumerate(HEAD_NAMES):
        key = max((k for k in oof if k[0] == name and k[2] is None), key=lambda k: oof[k].n_train_pairs)
        curve = bon_curve(oof[key].reward, sc.golden, sc.groups)
        BestOfNDisplay(curve, name=name).plot(ax=ax, baselines=i == 0)
    curve = bon_curve(sc.length, sc.golden, sc.groups)
    BestOfNDisplay(curve, name="longest").plot(ax=ax, baselines=False)
    ax.set_title("out-of-fold Best-of-N, noiseless labels, all pairs")
    C.save_figure(ctx, fig, "bon_curves")


def _headline(table: pl.DataFrame) -> tuple[dict, list[str]]:
    base = {r["head"]: r for r in table.filter(pl.col("loss") == "baseline").iter_rows(named=True)}
    heads = table.filter(pl.col("loss") != "baseline")
    clean = heads.filter(pl.col("beta") == "none")
    largest = clean["n_train_pairs"].max()  # noiseless labels drop tied pairs: fewer pairs
    clean = clean.filter(pl.col("n_train_pairs") == largest)
    best = clean.sort("bon@all", descending=True).row(0, named=True)
    noisy_beta = [b for b in heads["beta"].unique().to_list() if b != "none"]
    headline = {
        "best head (noiseless, all pairs)": best["head"],
        "BoN@51 golden logit": C.fmt_ci(best, "bon@all"),
        "BoN@51 win rate %": f"{best['winrate_bon@all']:.1f} (" + ", ".join(
            f"{b} {base[b]['winrate_bon@all']:.1f}" for b in ("random", "longest", "golden")) + ")",
        "normalised gain@51": C.fmt(best["normalised_gain@all"]),
        "Spearman": C.fmt_ci(best, "spearman"),
        "pairwise accuracy": C.fmt_ci(best, "pairwise_accuracy"),
        "training pairs": int(largest),
    }
    findings = [
        f"With {largest} noiseless within-prompt pairs, {best['head']} picks answers worth a "
        f"{best['winrate_bon@all']:.1f}% win rate at BoN@51, vs {base['random']['winrate_bon@all']:.1f}% "
        f"at random, {base['longest']['winrate_bon@all']:.1f}% for the longest answer and "
        f"{base['golden']['winrate_bon@all']:.1f}% for the golden score (normalised gain "
        f"{best['normalised_gain@all']:.2f}).",
    ]
    for name in HEAD_NAMES:
        sizes = heads.filter((pl.col("head") == name) & (pl.col("beta") == "none")).sort("n_train_pairs")
        first, last = sizes.row(0, named=True), sizes.row(-1, named=True)
        findings.append(
            f"{name}: BoN@51 {first['bon@all']:.3f} with {first['n_train_pairs']} pairs -> "
            f"{last['bon@all']:.3f} with {last['n_train_pairs']}; Spearman "
            f"{first['spearman']:.3f} -> {last['spearman']:.3f}.")
    for beta in noisy_beta:
        part = heads.filter(pl.col("beta") == beta)
        part = part.filter(pl.col("n_train_pairs") == part["n_train_pairs"].max())
        err = part["label_error_rate"].mean()
        order = part.sort("bon@all", descending=True)
        findings.append(
            f"At beta={beta} (realised label error {err:.1%}), {part['n_train_pairs'][0]} pairs: "
            f"best BoN@51 "
            f"{order['head'][0]} {order['bon@all'][0]:.3f}, worst {order['head'][-1]} "
            f"{order['bon@all'][-1]:.3f}.")
    return headline, findings


def main(argv: Sequence[str] | None = None) -> dict:
    ctx = C.parse_args(NAME, __doc__, argv, C.add_folds)
    table = run(ctx)
    cfg = C.config(ctx, QUICK, FULL)
    show = table.select(
        "head", "beta", "n_train_pairs", "label_error_rate",
        *[pl.col(f"bon@{n}") for n in C.BON_NS], "winrate_bon@all", "spearman",
        "pairwise_accuracy", "fit_seconds")
    C.print_table(f"{TITLE} (out-of-fold, {ctx.args.folds}-fold by prompt)", show)
    headline, findings = _headline(table)
    return C.write_summary(ctx, title=TITLE, headline=headline, findings=findings, setup={
        "prompts": int(table["n_groups"][0]), "folds": ctx.args.folds, "heads": list(HEAD_NAMES),
        "pair_regime": C.PAIR_REGIME, **{k: list(v) if isinstance(v, tuple) else v
                                         for k, v in cfg.items()},
        "n_bootstrap": ctx.args.n_bootstrap})


if __name__ == "__main__":
    main()
