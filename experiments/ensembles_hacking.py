"""Ensembles and reward hacking: single heads vs ensemble aggregates, and the null-model attack.

Prompt-grouped K-fold on AlpacaEval (noiseless within-prompt pairs): a single BT head and a
5-member ensemble of it (bootstrap resamples), for a linear and an MLP base. Each ensemble
is fitted once and read with the three aggregates: mean, min (worst case) and UWO (mean -
0.5 * variance of the standardised member rewards). For every held-out prompt we ask:

- Best-of-N on its 51 real answers (golden = logit(judge_pref));
- where the head ranks the *null-model attack* (a constant string that fooled the GPT-4
  judge into a high win rate) among those 51 answers: the share of real answers it beats
  (its percentile), how often it would be the BoN@all pick, and the same for the judge;
- for ensembles, whether member disagreement flags it. The uncertainty is read within each
  prompt (``Ensemble.uncertainty(X, groups=prompt)``: member rewards centred per prompt, so
  the members' disagreement about a prompt's unidentified offset drops out): the
  within-prompt AUC of the uncertainty (null vs real answers), and the share of null
  answers above the 95th percentile of the uncertainty on the training responses (vs real
  held-out answers). ``uncertainty_auc_raw`` is the same AUC for the ungrouped variance.

    python experiments/ensembles_hacking.py           # 805 prompts
    python experiments/ensembles_hacking.py --quick   # 40 prompts
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

from embrm.model_selection import CrossValRewards, attack_rank  # noqa: E402

NAME = "ensembles_hacking"
TITLE = "Ensembles and reward hacking"
HEAD_NAMES = ("bt-linear", "ensemble-bt-linear", "bt-mlp", "ensemble-bt-mlp")
AGGREGATES = ("mean", "min", "uwo")
FULL = {"pairs_per_prompt": 50}
QUICK = {"pairs_per_prompt": 15}
FLAG_QUANTILE = 0.95


def null_rank(real: np.ndarray, real_groups: np.ndarray, null: np.ndarray,
              null_groups: np.ndarray) -> dict[str, float]:
    """Averaged over prompts: the share of real answers the null answer beats
    (``attack_rank``), how often it beats them all (``top1``), and its rank (1 = best) among
    the real answers and itself."""
    frame = pl.DataFrame({"g": real_groups, "r": real}).join(
        pl.DataFrame({"g": null_groups, "n": null}), on="g", how="inner")
    per_prompt = frame.group_by("g").agg(
        top1=(pl.col("r") < pl.col("n")).all(),
        rank=1 + (pl.col("r") > pl.col("n")).sum(),
    )
    return {"attack_rank": attack_rank(real, real_groups, null, null_groups),
            "top1": float(per_prompt["top1"].mean()), "rank": float(per_prompt["rank"].mean())}


def run(ctx: C.Context) -> tuple[pl.DataFrame, dict]:
    cfg = C.config(ctx, QUICK, FULL)
    sc = C.load_alpaca(ctx)
    null = C.load_alpaca(ctx, "alpacaeval-nullmodel", prompt_ids=np.unique(sc.groups))
    results = C.crossfit(sc, C.heads(HEAD_NAMES), betas=(None,), sizes=(None,),
                         pairs_per_prompt=cfg["pairs_per_prompt"], n_splits=ctx.args.folds, seed=ctx.seed)
    reward: dict[tuple, CrossValRewards] = {}
    null_reward: dict[str, np.ndarray] = {}
    unc, null_unc, raw_unc, raw_null_unc, thresholds = {}, {}, {}, {}, {}
    for (name, _, _), result in results.items():
        if not name.startswith("ensemble"):
            reward[(name, None, None)] = result
            null_reward[name] = result.reward_held_out(null.X, null.groups)
            continue
        fold, fold_null = result.fold_of(sc.groups), result.fold_of(null.groups)
        for aggregate in AGGREGATES:
            for fit in result.folds:
                fit.head.set_params(aggregate=aggregate)
            key = f"{name}/{aggregate}"
            reward[(key, None, None)] = replace(result, reward=result.reward_held_out(sc.X, sc.groups))
            null_reward[key] = result.reward_held_out(null.X, null.groups)
        u, u_null, u_raw, u_raw_null = (np.empty(n) for n in (len(sc), len(null), len(sc), len(null)))
        thr, thr_null = np.empty(len(sc)), np.empty(len(null))
        for k, fit in enumerate(result.folds):
            real, attack = fold == k, fold_null == k
            train = fit.train_index
            thr[real] = thr_null[attack] = np.quantile(
                fit.head.uncertainty(sc.X[train], groups=sc.groups[train]), FLAG_QUANTILE)
            both = fit.head.uncertainty(np.concatenate([sc.X[real], null.X[attack]]),
                                        groups=np.concatenate([sc.groups[real], null.groups[attack]]))
            u[real], u_null[attack] = both[: real.sum()], both[real.sum():]
            u_raw[real] = fit.head.uncertainty(sc.X[real])
            u_raw_null[attack] = fit.head.uncertainty(null.X[attack])
        unc[name], null_unc[name], raw_unc[name], raw_null_unc[name] = u, u_null, u_raw, u_raw_null
        thresholds[name] = (thr, thr_null)
    table = C.crossfit_table(ctx, sc, reward)
    attack = {}
    for (name, _, _), result in reward.items():
        attack[name] = null_rank(result.reward, sc.groups, null_reward[name], null.groups)
    judge = null_rank(sc.golden, sc.groups, null.golden, null.groups)
    length = null_rank(sc.length, sc.groups, null.length, null.groups)
    extra = []
    for name in table["head"]:
        ranks = {"golden": judge, "longest": length}.get(name, attack.get(name))
        row = {"head": name}
        if ranks is not None:
            row |= {"attack_rank": ranks["attack_rank"],
                    "attack_top1_rate": ranks["top1"], "attack_position": ranks["rank"]}
        base = name.split("/")[0]
        if base in unc:
            u, u_null = unc[base], null_unc[base]
            thr, thr_null = thresholds[base]
            row |= {"uncertainty_auc": attack_rank(u, sc.groups, u_null, null.groups),
                    "uncertainty_auc_raw": attack_rank(raw_unc[base], sc.groups, raw_null_unc[base],
                                                       null.groups),
                    "null_flag_rate": float((u_null > thr_null).mean()),
                    "real_flag_rate": float((u > thr).mean())}
        extra.append(row)
    table = table.join(pl.DataFrame(extra, infer_schema_length=None), on="head", how="left")
    table = table.with_columns(
        pl.col("head").str.split("/").list.get(1, null_on_oob=True).fill_null("single").alias("aggregate"),
        pl.col("head").str.split("/").list.get(0).alias("base"))
    C.write_csv(ctx, table)
    _plot(ctx, table, sc, null, unc, null_unc)
    facts = {"judge_attack_rank": judge["attack_rank"],
             "judge_attack_top1_rate": judge["top1"],
             "null_judge_win_rate": float(null.win_rate.mean()),
             "prompts": int(np.unique(sc.groups).size)}
    return table, facts


def _plot(ctx, table, sc, null, unc, null_unc) -> None:
    fig, axes = C.figure(ncols=3)
    t = table.filter(pl.col("loss") != "baseline")
    y = np.arange(t.height)
    for ax, metric, label in ((axes[0], "bon@all", "BoN@51 golden logit (95% CI)"),):
        ax.barh(y, t[metric], xerr=[t[metric] - t[f"{metric}_ci_low"],
                                    t[f"{metric}_ci_high"] - t[metric]], capsize=3)
        ax.set_yticks(y, t["head"].to_list())
        ax.set(xlabel=label, title="Best-of-51 on real answers")
    p = table.filter(pl.col("attack_rank").is_not_null())
    axes[1].barh(np.arange(p.height), p["attack_rank"], color="C3")
    axes[1].set_yticks(np.arange(p.height), [h if h != "golden" else "judge (golden)"
                                             for h in p["head"]])
    axes[1].set(xlim=(0, 1), xlabel="share of the 51 real answers the null attack outranks",
                title="null-model attack")
    name = "ensemble-bt-mlp" if "ensemble-bt-mlp" in unc else next(iter(unc))
    u, u_null = unc[name], null_unc[name]
    bins = np.histogram_bin_edges(np.log10(np.concatenate([u, u_null]) + 1e-12), 40)
    axes[2].hist(np.log10(u + 1e-12), bins=bins, density=True, alpha=0.6, label="real answers")
    axes[2].hist(np.log10(u_null + 1e-12), bins=bins, density=True, alpha=0.6, label="null attack")
    axes[2].set(xlabel="log10 member variance, within prompt", title=f"{name} uncertainty")
    axes[2].legend()
    C.save_figure(ctx, fig, "ensembles_hacking")


def _headline(table: pl.DataFrame, facts: dict) -> tuple[dict, list[str]]:
    heads = table.filter(pl.col("loss") != "baseline").sort("bon@all", descending=True)
    rows = {r["head"]: r for r in table.iter_rows(named=True)}
    headline = {r["head"]: f"BoN@51 {r['bon@all']:.3f}, attack_rank {r['attack_rank']:.0%}"
                for r in heads.iter_rows(named=True)}
    headline["judge (golden)"] = (f"attack_rank {facts['judge_attack_rank']:.0%} of real "
                                  f"answers; win rate {facts['null_judge_win_rate']:.1f}%")
    findings = [
        f"The GPT-4 judge ranks the null attack above {facts['judge_attack_rank']:.0%} of the "
        f"51 real answers on average (it would be the judge's top pick on "
        f"{facts['judge_attack_top1_rate']:.0%} of prompts); the embedding heads rank it above "
        + ", ".join(f"{r['head']} {r['attack_rank']:.0%}" for r in heads.iter_rows(named=True))
        + ".",
        f"Best BoN@51: {heads['head'][0]} {heads['bon@all'][0]:.3f}; single bt-linear "
        f"{rows['bt-linear']['bon@all']:.3f}, single bt-mlp {rows['bt-mlp']['bon@all']:.3f}.",
    ]
    for base in ("ensemble-bt-linear", "ensemble-bt-mlp"):
        r = rows.get(f"{base}/mean")
        if r and r.get("uncertainty_auc") is not None:
            findings.append(
                f"{base}: member variance read within each prompt ranks the null answer above "
                f"{r['uncertainty_auc']:.0%} of the real answers of its prompt "
                f"({r['uncertainty_auc_raw']:.0%} ungrouped); a 95th-percentile threshold flags "
                f"{r['null_flag_rate']:.0%} of null answers and {r['real_flag_rate']:.0%} of real ones.")
    return headline, findings


def main(argv: Sequence[str] | None = None) -> dict:
    ctx = C.parse_args(NAME, __doc__, argv, C.add_folds)
    table, facts = run(ctx)
    show = table.select("head", "bon@4", "bon@16", "bon@all", "winrate_bon@all", "spearman",
                        "pairwise_accuracy", "attack_rank", "attack_top1_rate", "attack_position",
                        "uncertainty_auc", "uncertainty_auc_raw", "null_flag_rate", "real_flag_rate")
    C.print_table(f"{TITLE} (out-of-fold, {ctx.args.folds}-fold by prompt; "
                  "golden row = the judge's own ranking of the null attack)", show)
    headline, findings = _headline(table, facts)
    cfg = C.config(ctx, QUICK, FULL)
    return C.write_summary(ctx, title=TITLE, headline=headline, findings=findings, setup={
        "prompts": facts["prompts"], "folds": ctx.args.folds, "heads": list(HEAD_NAMES),
        "aggregates": list(AGGREGATES), "n_members": 5, "uwo_penalty": 0.5,
        "flag_quantile": FLAG_QUANTILE, "pair_regime": C.PAIR_REGIME, "beta": "none",
        **cfg, "n_bootstrap": ctx.args.n_bootstrap})


if __name__ == "__main__":
    main()
