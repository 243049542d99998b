"""Decomposed reward models (DRM): what the components are, and few-shot adaptation.

A DRM is fitted on the training halves of two tasks at once: AlpacaEval helpfulness
(noiseless within-prompt pairs labelled by the golden score) and HH-RLHF harmlessness
(human pairs), weighted so each task carries half the weight. Heads: the Bradley-Terry
direction of the mixed training pairs (head 0, "bt") and the top principal directions of
the preference differences (both signs, as the reference code). On the held-out halves
we report, per component:

- its share of explained variance;
- its within-prompt Spearman correlation with response length (AlpacaEval answers);
- eta^2: the share of its variance explained by the AlpacaEval subset (helpful_base,
  koala, oasst, selfinstruct, vicuna);
- its pairwise accuracy on held-out HH pairs (harmless) and AlpacaEval pairs (helpful), and
  its correlation with "is an HH answer" (domain).

Few-shot adaptation: from k = 4, 8, 16, 32 labelled pairs of one task (drawn from its
training half, repeated with different draws), learn the head weights (training-free
softmax rule, and the logistic variant) and compare with a single BT linear head trained
on the same k pairs; evaluate on the task's held-out pairs. References: the unadapted DRM
(its default weights, fitted on the mixed training pairs), BT on all the mixed training
pairs, BT on all of the task's training pairs.

    python experiments/drm_decomposition.py           # 805 prompts, 2,307 HH pairs
    python experiments/drm_decomposition.py --quick
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

from embrm.data import within_prompt_pairs  # noqa: E402
from embrm.evaluate import pairwise_accuracy, rank_correlation  # noqa: E402
from embrm.heads import DRM, BTLinear  # noqa: E402
from embrm.model_selection import group_train_test_split  # noqa: E402

NAME = "drm_decomposition"
TITLE = "Decomposed reward models (DRM)"
SHOTS = (4, 8, 16, 32)
FULL = {"pairs_per_prompt": 20, "test_pairs_per_prompt": 20, "n_components": 10, "repeats": 20}
QUICK = {"pairs_per_prompt": 10, "test_pairs_per_prompt": 20, "n_components": 5, "repeats": 5}


class Task:
    """A task's pairs as embedding rows: a training pool and held-out pairs."""

    def __init__(self, name, train_win, train_lose, test_win, test_lose):
        self.name = name
        self.train_win, self.train_lose = train_win, train_lose
        self.test_win, self.test_lose = test_win, test_lose

    def pairwise_accuracy(self, reward) -> float:
        return pairwise_accuracy(reward(self.test_win), reward(self.test_lose))


def _alpaca_pairs(sc: C.Scored, rows: np.ndarray, per_prompt: int, seed: int):
    return within_prompt_pairs(sc.data.take(rows), per_prompt, None, random_state=seed).gather(sc.X[rows])


def run(ctx: C.Context) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    cfg = C.config(ctx, QUICK, FULL)
    seed = ctx.seed
    sc, hh = C.load_alpaca(ctx), C.load_hh(ctx)
    a_tr, a_te = group_train_test_split(sc.groups, 0.5, random_state=seed)
    h_tr, h_te = group_train_test_split(hh.groups, 0.5, random_state=seed)
    alpaca = Task("alpacaeval", *_alpaca_pairs(sc, a_tr, cfg["pairs_per_prompt"], seed),
                  *_alpaca_pairs(sc, a_te, cfg["test_pairs_per_prompt"], seed + 1))
    harmless = Task("hh-harmless", hh.X_win[h_tr], hh.X_lose[h_tr], hh.X_win[h_te], hh.X_lose[h_te])
    n_a, n_h = len(alpaca.train_win), len(harmless.train_win)
    X_win = np.concatenate([alpaca.train_win, harmless.train_win])
    X_lose = np.concatenate([alpaca.train_lose, harmless.train_lose])
    weight = np.concatenate([np.full(n_a, 0.5 / n_a), np.full(n_h, 0.5 / n_h)]) * (n_a + n_h)
    drm = DRM(n_components=cfg["n_components"], both_signs=True).fit(X_win, X_lose, weight)
    bt_mixed = BTLinear().fit(X_win, X_lose, weight)

    components = _components(drm, sc, a_te, hh, h_te, alpaca, harmless)
    rows = []
    rng = np.random.RandomState(seed)
    for task in (harmless, alpaca):
        for method, reward in (("DRM, not adapted (fitted weights)", drm.reward),
                               ("BT linear, all mixed training pairs", bt_mixed.reward),
                               ("BT linear, all of this task's training pairs",
                                BTLinear().fit(task.train_win, task.train_lose).reward)):
            rows.append({"task": task.name, "shots": "all", "method": method,
                         "pairwise_accuracy_mean": task.pairwise_accuracy(reward),
                         "pairwise_accuracy_sd": None})
        for k in SHOTS:
            scores: dict[str, list[float]] = {}
            for _ in range(cfg["repeats"]):
                pick = rng.choice(len(task.train_win), size=k, replace=False)
                Xw, Xl = task.train_win[pick], task.train_lose[pick]
                for method, adaptation in (("DRM adapted (softmax)", "softmax"),
                                           ("DRM adapted (logistic)", "logistic")):
                    adapted = copy.deepcopy(drm).set_params(adaptation=adaptation).adapt(Xw, Xl)
                    scores.setdefault(method, []).append(task.pairwise_accuracy(adapted.reward))
                bt = BTLinear().fit(Xw, Xl)
                scores.setdefault("BT linear on the same pairs", []).append(task.pairwise_accuracy(bt.reward))
            for method, values in scores.items():
                rows.append({"task": task.name, "shots": str(k), "method": method,
                             "pairwise_accuracy_mean": float(np.mean(values)),
                             "pairwise_accuracy_sd": float(np.std(values, ddof=1))})
    fewshot = pl.DataFrame(rows, infer_schema_length=None)
    C.write_csv(ctx, fewshot, "fewshot")
    C.write_csv(ctx, components, "components")
    _plot(ctx, components, fewshot)
    facts = {"alpaca_train_pairs": n_a, "hh_train_pairs": n_h,
             "alpaca_test_pairs": len(alpaca.test_win), "hh_test_pairs": len(harmless.test_win),
             "prompts": int(np.unique(sc.groups).size)}
    return components, fewshot, facts


def _components(drm, sc, a_te, hh, h_te, alpaca, harmless) -> pl.DataFrame:
    k = drm.n_components
    n_heads = 1 + k  # head 0 + v_1..v_k (the -v_j copies are their negatives)
    S = drm.reward_components(sc.X[a_te])[:, :n_heads]
    groups, length = sc.groups[a_te], sc.length[a_te]
    subset = sc.data.frame["subset"].to_numpy()[a_te]
    H = drm.reward_components(np.concatenate([hh.X_win[h_te], hh.X_lose[h_te]]))[:, :n_heads]
    is_hh = np.r_[np.ones(len(H)), np.zeros(len(S))]
    rows = []
    for j in range(n_heads):
        s = S[:, j]
        means = pl.DataFrame({"g": subset, "s": s}).group_by("g").agg(
            pl.col("s").mean().alias("m"), pl.len().alias("n"))
        eta2 = float((means["n"] * (means["m"] - s.mean()) ** 2).sum() / ((s - s.mean()) ** 2).sum())
        reward = lambda X, j=j: drm.reward_components(X)[:, j]  # noqa: E731
        rows.append({
            "component": drm.first_head if j == 0 else f"pc{j}",
            "explained_variance_ratio": None if j == 0 else float(drm.explained_variance_ratio_[j - 1]),
            "length_spearman": rank_correlation(s, length, groups)["correlation"].mean(),
            "subset_eta2": eta2,
            "helpful_pairwise_accuracy": alpaca.pairwise_accuracy(reward),
            "harmless_pairwise_accuracy": harmless.pairwise_accuracy(reward),
            "domain_corr": float(np.corrcoef(np.r_[H[:, j], s], is_hh)[0, 1]),
        })
    return pl.DataFrame(rows, infer_schema_length=None)


def _plot(ctx, components: pl.DataFrame, fewshot: pl.DataFrame) -> None:
    fig, axes = C.figure(ncols=4)
    pcs = components.filter(pl.col("explained_variance_ratio").is_not_null())
    axes[0].bar(pcs["component"], pcs["explained_variance_ratio"])
    axes[0].set(ylabel="explained variance ratio", title="DRM components")
    x = np.arange(components.height)
    axes[1].bar(x - 0.2, components["harmless_pairwise_accuracy"], 0.4, label="hh-harmless")
    axes[1].bar(x + 0.2, components["helpful_pairwise_accuracy"], 0.4, label="alpacaeval")
    axes[1].axhline(0.5, color="grey", linestyle="--")
    axes[1].set_xticks(x, components["component"].to_list(), rotation=90)
    axes[1].set(ylabel="held-out pairwise accuracy", title="each component alone")
    axes[1].legend(fontsize=7)
    for ax, task in zip(axes[2:], ("hh-harmless", "alpacaeval"), strict=True):
        part = fewshot.filter((pl.col("task") == task) & (pl.col("shots") != "all"))
        for method in part["method"].unique(maintain_order=True):
            m = part.filter(pl.col("method") == method)
            shots = m["shots"].cast(pl.Int64)
            ax.errorbar(shots, m["pairwise_accuracy_mean"], yerr=m["pairwise_accuracy_sd"], marker="o",
                        capsize=3, label=method)
        refs = fewshot.filter((pl.col("task") == task) & (pl.col("shots") == "all"))
        for (method, acc), style in zip(refs.select("method", "pairwise_accuracy_mean").iter_rows(),
                                        (":", "-.", "--"), strict=True):
            ax.axhline(acc, color="grey", linestyle=style, label=method)
        ax.set_xscale("log", base=2)
        ax.set(xlabel="labelled pairs (shots)", ylabel="held-out pairwise accuracy",
               title=f"few-shot adaptation to {task}")
        ax.minorticks_off()
        ax.set_xticks(list(SHOTS), [str(s) for s in SHOTS])
        ax.legend(fontsize=6)
    C.save_figure(ctx, fig, "drm")


def _headline(components: pl.DataFrame, fewshot: pl.DataFrame) -> tuple[dict, list[str]]:
    pcs = components.filter(pl.col("explained_variance_ratio").is_not_null())
    evr = pcs["explained_variance_ratio"].to_list()
    longest = components.sort(pl.col("length_spearman").abs(), descending=True).row(0, named=True)
    # Each principal direction is kept with both signs, so a component below 0.5 on a task
    # is a component above 0.5 with the opposite sign.
    signed = pl.concat([components, pcs.with_columns(
        ("-" + pl.col("component")).alias("component"),
        (1 - pl.col("harmless_pairwise_accuracy")).alias("harmless_pairwise_accuracy"),
        (1 - pl.col("helpful_pairwise_accuracy")).alias("helpful_pairwise_accuracy"))])
    best_h = signed.sort("harmless_pairwise_accuracy", descending=True).row(0, named=True)
    best_a = signed.sort("helpful_pairwise_accuracy", descending=True).row(0, named=True)
    headline = {
        "explained variance, first 3 PCs": ", ".join(f"{v:.3f}" for v in evr[:3]),
        f"explained variance, all {len(evr)} PCs": f"{sum(evr):.3f}",
        "most length-correlated": f"{longest['component']} (Spearman {longest['length_spearman']:+.2f})",
        "best harmless component": f"{best_h['component']} ({best_h['harmless_pairwise_accuracy']:.3f}; "
                                   f"helpful {best_h['helpful_pairwise_accuracy']:.3f})",
        "best helpful component": f"{best_a['component']} ({best_a['helpful_pairwise_accuracy']:.3f}; "
                                  f"harmless {best_a['harmless_pairwise_accuracy']:.3f})",
    }
    findings = [
        f"The {len(evr)} principal components explain {sum(evr):.0%} of the variance of the "
        f"centred preference differences (first: {evr[0]:.1%}); {longest['component']} tracks "
        f"response length most (within-prompt Spearman {longest['length_spearman']:+.2f}).",
        f"Components split the tasks: {best_h['component']} orders "
        f"{best_h['harmless_pairwise_accuracy']:.0%} "
        f"of held-out HH pairs (helpful {best_h['helpful_pairwise_accuracy']:.0%}); {best_a['component']} "
        f"orders {best_a['helpful_pairwise_accuracy']:.0%} of AlpacaEval pairs (harmless "
        f"{best_a['harmless_pairwise_accuracy']:.0%}).",
    ]
    top = str(max(SHOTS))
    for task in ("hh-harmless", "alpacaeval"):
        part = fewshot.filter((pl.col("task") == task) & (pl.col("shots") == top))
        acc = dict(part.select("method", "pairwise_accuracy_mean").iter_rows())
        sd = dict(part.select("method", "pairwise_accuracy_sd").iter_rows())
        ref = dict(fewshot.filter((pl.col("task") == task) & (pl.col("shots") == "all"))
                   .select("method", "pairwise_accuracy_mean").iter_rows())
        soft, logi, bt = (acc["DRM adapted (softmax)"], acc["DRM adapted (logistic)"],
                          acc["BT linear on the same pairs"])
        headline[f"{task}, {top} shots: DRM softmax / logistic / BT"] = (
            f"{soft:.3f} / {logi:.3f} / {bt:.3f}")
        findings.append(
            f"{task}, {top} labelled pairs: adapted DRM {soft:.3f} (softmax, sd "
            f"{sd['DRM adapted (softmax)']:.3f}) and {logi:.3f} (logistic) vs BT on the same "
            f"pairs {bt:.3f}; unadapted DRM {ref['DRM, not adapted (fitted weights)']:.3f}, BT on all "
            f"mixed pairs {ref['BT linear, all mixed training pairs']:.3f}, BT on all of the task "
            f"{ref['BT linear, all of this task' + chr(39) + 's training pairs']:.3f}.")
    return headline, findings


def main(argv: Sequence[str] | None = None) -> dict:
    ctx = C.parse_args(NAME, __doc__, argv)
    components, fewshot, facts = run(ctx)
    C.print_table(f"{TITLE}: components (held-out halves)", components)
    C.print_table(f"{TITLE}: few-shot adaptation (held-out pairs; mean and sd over draws)",
                  fewshot)
    headline, findings = _headline(components, fewshot)
    cfg = C.config(ctx, QUICK, FULL)
    return C.write_summary(ctx, title=TITLE, headline=headline, findings=findings, setup={
        **facts, **cfg, "shots": list(SHOTS), "first_head": "bt", "both_signs": True,
        "pair_regime": "AlpacaEval: " + C.PAIR_REGIME + " (beta=None); HH: real human pairs; "
                       "train/test = 50/50 split by prompt (by pair for HH)"})


if __name__ == "__main__":
    main()
