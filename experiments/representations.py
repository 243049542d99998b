"""Representations x heads x data: which embedding carries the reward signal, at what cost.

Every representation of :data:`STUDY` (the default joint MiniLM window, MiniLM with the
explicit length features, whole-response MiniLM windows, separate prompt/response MiniLM
features, the static model distilled from MiniLM with model2vec (whole text, joint and split),
static and MiniLM concatenated, all-mpnet-base-v2 (joint window) and its static distillation,
SmolLM2-135M-Instruct hidden states) is scored with four heads (BT linear,
logistic classifier, BT MLP, LightGBM) on three data sets, out of fold (prompt-grouped
K-fold, the same folds for every row). The fitted representation ``lexical`` (tf-idf of word
and character n-grams plus log length, :class:`embrm.embed.LexicalFeatures`, fitted inside
each fold on its training texts only) is scored with the one head that takes its sparse rows,
BT linear (``LEXICAL_HEAD``); its cost is texts per second to fit and transform. The fitted
representation ``static-tuned`` (the static model with one weight per token learned with the
Bradley-Terry loss on each fold's training pairs, :class:`embrm.embed.RewardTunedStatic`) is
scored with BT linear too; its cost is the static model's (a tuned model embeds as fast).

- ``alpacaeval``: the study prompts x all 51 models' answers (candidates of very different
  strength);
- ``alpacaeval-hard``: the same prompts x the 10 models of most similar strength (Best-of-N
  among answers of similar quality);
- ``hh-harmless``: the first human-labelled pairs.

AlpacaEval heads train on every within-prompt pair of the training prompts (or
``pairs_per_prompt`` of them), labelled noiselessly by the golden score
logit(judge_pref). Reported: Best-of-N (all candidates) as a win rate against the reference
(%, the leaderboard's unit) with a bootstrap CI over prompts, within-prompt Spearman and
pairwise accuracy, and three paired differences over prompts of the Best-of-N pick, in
win-rate points (``vs_*``) and in the golden logit (``vs_*_logit``, which weighs the many
small log-odds differences among weak answers that the win rate hardly sees): against
always-longest, against random, and against a **length-only head** (BT linear on log
response length, same folds and pairs) — a representation that only rediscovers length
gains nothing there. ``len_spearman`` is the within-prompt rank correlation of the reward
with response length; ``attack_rank`` the share of a prompt's real answers the head ranks
below the AlpacaEval null-model attack string (a judge hack: a reward worth having ranks it
low). Cost: texts per second to embed (uncached, a fixed sample) and seconds to fit. A
layer sweep of SmolLM2 (every probe layer, mean and last-token pooling, BT linear) comes
from the same cached pass.

SmolLM2 is not run on the 51-model set (5,100 texts at ~1.5 texts/s here); its rows there
are missing on purpose.

    python experiments/representations.py           # 100 prompts, 1,000 hh pairs
    python experiments/representations.py --quick   # 4 prompts, 24 hh pairs
    # the sentence representations on the hard set, all 805 prompts:
    python experiments/representations.py --n-prompts 805 --data alpacaeval-hard \
        --representations minilm minilm+length minilm-windows minilm-split
    # the same rows on 200 prompts the default study never saw (a check on its best rows):
    python experiments/representations.py --prompt-offset 100 --n-prompts 200 --data alpacaeval-hard \
        --representations mpnet lexical

The record's table ``cost_quality`` gives each representation's embedding cost beside its
best head on each data set; the findings check the goals in ``GOALS`` and give a line per
representation in ``LEVERS``.

``--representations`` and ``--data`` pick a part of the grid (the baselines and the
length-only head always come along); the SmolLM2 layer sweep runs when a SmolLM2
representation, alpacaeval-hard and hh-harmless are all picked.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

from embrm import Encoder, load_dataset  # noqa: E402
from embrm.data import ScoredResponses, within_prompt_pairs  # noqa: E402
from embrm.embed import FITTED_REPRESENTATIONS  # noqa: E402
from embrm.evaluate import (  # noqa: E402
    compare_pairs,
    compare_rewards,
    evaluate_pairs,
    evaluate_rewards,
    pairwise_accuracy,
    rank_correlation,
)
from embrm.heads import BTLinear  # noqa: E402
from embrm.model_selection import Report, attack_rank, cross_val_rewards, length_features  # noqa: E402

NAME = "representations"
TITLE = "Representations: reward signal vs embedding cost"
#: Study representations: Encoder options.
STUDY: dict[str, dict] = {
    "minilm": {},
    "minilm+length": {"scalar_features": ("log_chars", "truncated")},
    "minilm-windows": {"view": "windows"},
    "minilm-split": {"view": "split"},
    "static": {"model": "static"},
    "static-split": {"model": "static-split"},
    "static+minilm": {"model": "static+minilm"},
    "smollm2-L15-mean": {"model": "SmolLM2-135M-Instruct", "layer": 15},
    "smollm2-L15-last": {"model": "SmolLM2-135M-Instruct", "layer": 15, "view": "last"},
    "mpnet": {"model": "mpnet"},
    "mpnet-static": {"model": "mpnet-static"},
    "lexical": {"fitted": "lexical"},
    "static-tuned": {"fitted": "static-tuned"},
}
HEAD_NAMES = ("bt-linear", "classifier", "bt-mlp", "lgbm")
#: The head of the fitted lexical rows (sparse: BT linear is the head that takes them); tf-idf
#: columns are not standardised (that would scale rare n-grams up to common ones' weight).
LEXICAL_HEAD = {"alpha": 3.0, "standardize": False}
#: The BT linear head of each fitted representation (the tuned static vectors are dense: defaults).
FITTED_HEAD = {"lexical": LEXICAL_HEAD, "static-tuned": {}}
DATASETS = ("alpacaeval", "alpacaeval-hard", "hh-harmless")
#: The goals the findings are checked against: Best-of-51 win rate (%) among the 51 models, HH
#: pairwise accuracy; on the hard set, a gain over always-longest whose interval is clear of zero.
GOALS = {"alpacaeval_bon": 62.0, "hh_accuracy": 0.66}
#: The representations that go beyond the frozen sentence encoders: each gets a finding of its own.
LEVERS = ("lexical", "static-tuned", "mpnet", "mpnet-static")
SWEEP = "SmolLM2-135M-Instruct"
#: ``on_51_models``: representations scored on the 51-model set (quick: those the test fixtures cache).
#: ``cost_texts_static``: the static model embeds ~1,000 texts/s, so its cost is timed on more texts
#: (a seeded sample of all alpacaeval-hard answers) than the transformers' ``cost_texts``.
QUICK = {"n_prompts": 4, "n_hh": 24, "folds": 3, "pairs_per_prompt": None, "cost_texts": 4,
         "cost_texts_static": 40,
         "on_51_models": ("minilm", "minilm+length", "static", "lexical")}
FULL = {"n_prompts": 100, "n_hh": 1000, "folds": 5, "pairs_per_prompt": 200, "cost_texts": 16,
        "cost_texts_static": 2000,
        "on_51_models": ("minilm", "minilm+length", "minilm-windows", "minilm-split", "static",
                         "static-split", "static+minilm", "mpnet", "mpnet-static", "lexical",
                         "static-tuned")}


def study_prompt_ids(n: int, offset: int = 0) -> np.ndarray:
    """``n`` prompts of one seeded permutation of the 805 prompts, from position ``offset``
    (the quick fixtures' 40 prompts are its first 40, so every smaller study is inside every
    larger one; an offset past a study's prompts gives prompts that study never saw)."""
    return np.sort(np.random.RandomState(0).permutation(C.N_ALPACA_PROMPTS)[offset : offset + n])


def encoder(ctx: C.Context, options: dict) -> Encoder:
    return Encoder(cache_dir=ctx.args.cache_dir, show_progress=False, **options)


def study_heads(options: dict) -> dict:
    """The heads a representation is scored with: every study head, or for a fitted
    representation its BT linear head (``FITTED_HEAD``)."""
    if "fitted" in options:
        return {"bt-linear": lambda seed: BTLinear(**FITTED_HEAD[options["fitted"]])}
    return C.heads(HEAD_NAMES)


def length_spearman(reward: np.ndarray, length: np.ndarray, groups: np.ndarray) -> float:
    """Mean within-prompt Spearman correlation of a reward with response length (NaN when the
    reward is constant in every prompt)."""
    mean = rank_correlation(reward, length, groups)["correlation"].mean()
    return float("nan") if mean is None else float(mean)


# -- cost ------------------------------------------------------------------------------------
def embed_rate(ctx: C.Context, options: dict, prompts: list[str], responses: list[str]) -> float:
    """Texts per second embedding ``responses`` uncached (a scratch cache beside the real
    models, so nothing is exported twice and the real cache is untouched)."""
    warm = encoder(ctx, options)
    warm.encode_responses(prompts[:1], responses[:1])  # export and load before timing
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "models").symlink_to(warm.cache_dir / "models", target_is_directory=True)
        cold = Encoder(cache_dir=tmp, show_progress=False, **options)
        cold.encode_responses(["warm-up"], ["warm-up"])
        start = time.perf_counter()
        cold.encode_responses(prompts, responses)
        return len(responses) / (time.perf_counter() - start)


def fitted_representation(ctx: C.Context, options: dict) -> Any:
    """A new unfitted fitted representation (one that reads a model finds it in ``--cache-dir``)."""
    cls = FITTED_REPRESENTATIONS[options["fitted"]]
    return cls(cache_dir=ctx.args.cache_dir) if "cache_dir" in cls._get_param_names() else cls()


#: What the reward-tuned static model learned in the first fold, per data set: the tokens with
#: the largest and smallest weights (kept in the summary, so the record says what it learned).
LEARNED: dict[str, list[dict]] = {}


def keep_learned(dataset: str, result: Any) -> None:
    """Keep the first fold's top tokens when ``result``'s folds fitted a reward-tuned static model."""
    top_tokens = getattr(result.folds[0].representation, "top_tokens", None)
    if top_tokens is not None:
        LEARNED[dataset] = [{k: t[k] for k in ("token", "weight", "n_texts")} for t in top_tokens(10)]


def fit_rate(options: dict, responses: list[str]) -> float:
    """Texts per second fitting a fitted representation on ``responses`` and transforming them."""
    start = time.perf_counter()
    FITTED_REPRESENTATIONS[options["fitted"]]().fit(responses).transform(responses)
    return len(responses) / (time.perf_counter() - start)


# -- scored sets (alpacaeval, alpacaeval-hard) ------------------------------------------------
@dataclass
class Embedded:
    """A scored set and its prompts' null-model attack answers, embedded by one representation
    (for a fitted one: ``X`` the unfitted object, ``X_null`` the null set itself), with log
    response lengths (the length-only head's feature), and the heads to score."""

    data: ScoredResponses
    X: Any
    log_len: np.ndarray  # (n, 1): the length-only head's feature
    null: ScoredResponses
    X_null: Any
    log_len_null: np.ndarray
    heads: dict


def fit_scored(ctx: C.Context, cfg: dict, e: Embedded
               ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, float]]:
    """Out-of-fold rewards of every head (and the length-only head) on one representation, for
    the real answers and for the null-model answer of each held-out prompt."""
    build = partial(within_prompt_pairs, pairs_per_prompt=cfg["pairs_per_prompt"], beta=None)
    oof, oof_null, seconds = {}, {}, {}
    factories = {**e.heads, "length-only": lambda seed: BTLinear()}
    for name, make in factories.items():
        X, X_null = (e.log_len, e.log_len_null) if name == "length-only" else (e.X, e.X_null)
        result = cross_val_rewards(make(ctx.seed), e.data, X, cv=cfg["folds"], pairs=build,
                                   random_state=ctx.seed)
        keep_learned(e.data.name, result)
        oof[name] = result.reward
        oof_null[name] = result.reward_held_out(X_null, e.null.groups)
        seconds[name] = result.fit_seconds
    return oof, oof_null, seconds


def scored_rows(ctx: C.Context, cfg: dict, dataset: str, rep: str, e: Embedded,
                fitted: tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, float]],
                rate: float, with_length_only: bool) -> list[dict]:
    data = e.data
    oof, oof_null, seconds = fitted
    golden = data.scores
    win_rate = 100 * data.frame["judge_pref"].to_numpy()
    length = data.frame["response"].str.len_chars().to_numpy().astype(float)
    boot = {"n_bootstrap": ctx.args.n_bootstrap, "random_state": ctx.seed}
    rows = []
    for head, reward in oof.items():
        if head == "length-only" and not with_length_only:
            continue  # the same for every representation: reported once
        quality = Report(evaluate_rewards(reward, win_rate, data.groups, n="all", **boot)).to_dict()
        ranks = Report(evaluate_rewards(reward, golden, data.groups, n="all", **boot)).to_dict()
        row = {
            "data": dataset, "representation": "–" if head == "length-only" else rep, "head": head,
            "bon": quality["bon@all"], "bon_ci_low": quality["bon@all_ci_low"],
            "bon_ci_high": quality["bon@all_ci_high"],
            "spearman": ranks["spearman"], "pairwise_accuracy": ranks["pairwise_accuracy"],
            "len_spearman": length_spearman(reward, length, data.groups),
            "attack_rank": attack_rank(reward, data.groups, oof_null[head], e.null.groups),
            "fit_seconds": seconds[head],
            "embed_texts_per_s": rate,
        }
        for baseline, base in (("longest", length), ("random", np.zeros(len(data))),
                               ("length_only", oof["length-only"])):
            for unit, reference in (("", win_rate), ("_logit", golden)):
                compared = compare_rewards(reward, base, reference, data.groups, n="all", **boot)
                diff = Report(compared).to_dict()
                for end in ("", "_ci_low", "_ci_high"):
                    row[f"vs_{baseline}{unit}{end}"] = diff[f"bon@all{end}"]
        rows.append(row)
    return rows


def baseline_rows(ctx: C.Context, dataset: str, data: ScoredResponses, null: ScoredResponses) -> list[dict]:
    win_rate = 100 * data.frame["judge_pref"].to_numpy()
    length = data.frame["response"].str.len_chars().to_numpy().astype(float)
    null_length = null.frame["response"].str.len_chars().to_numpy().astype(float)
    rows = []
    for name, reward, reward_null in (
        ("random", np.zeros(len(data)), np.zeros(len(null))),
        ("longest", length, null_length),
        ("golden", data.scores.astype(float), null.scores.astype(float)),  # the (hacked) judge
    ):
        q = Report(evaluate_rewards(reward, win_rate, data.groups, n="all",
                                    n_bootstrap=ctx.args.n_bootstrap, random_state=ctx.seed)).to_dict()
        rows.append({"data": dataset, "representation": "–", "head": name, "bon": q["bon@all"],
                     "bon_ci_low": q["bon@all_ci_low"], "bon_ci_high": q["bon@all_ci_high"],
                     "spearman": q["spearman"], "pairwise_accuracy": q["pairwise_accuracy"],
                     "attack_rank": attack_rank(reward, data.groups, reward_null, null.groups)})
    return rows


# -- pairs (hh-harmless) -----------------------------------------------------------------------
def hh_rows(ctx: C.Context, cfg: dict, rep: str, hh, X_rep: Any, heads: dict,
            rate: float, with_length_only: bool) -> list[dict]:
    r_win, r_lose, seconds = {}, {}, {}
    factories = {**heads, "length-only": lambda seed: BTLinear()}
    for name, make in factories.items():
        X = length_features(hh) if name == "length-only" else X_rep
        result = cross_val_rewards(make(ctx.seed), hh, X, cv=cfg["folds"], random_state=ctx.seed)
        keep_learned("hh-harmless", result)
        r_win[name], r_lose[name], seconds[name] = result.reward_win, result.reward_lose, result.fit_seconds
    boot = {"n_bootstrap": ctx.args.n_bootstrap, "random_state": ctx.seed}
    rows = []
    for name in r_win:
        if name == "length-only" and not with_length_only:
            continue
        acc = Report(evaluate_pairs(r_win[name], r_lose[name], hh.groups, **boot)).to_dict()
        diff = Report(compare_pairs(r_win[name], r_lose[name], r_win["length-only"],
                                    r_lose["length-only"], hh.groups, **boot)).to_dict()
        rows.append({
            "data": "hh-harmless", "representation": "–" if name == "length-only" else rep,
            "head": name, "pairwise_accuracy": acc["pairwise_accuracy"],
            "pairwise_accuracy_ci_low": acc["pairwise_accuracy_ci_low"],
            "pairwise_accuracy_ci_high": acc["pairwise_accuracy_ci_high"],
            "vs_length_only": diff["pairwise_accuracy"],
            "vs_length_only_ci_low": diff["pairwise_accuracy_ci_low"],
            "vs_length_only_ci_high": diff["pairwise_accuracy_ci_high"],
            "fit_seconds": seconds[name], "embed_texts_per_s": rate,
        })
    return rows


# -- the layer sweep ---------------------------------------------------------------------------
def layer_sweep(ctx: C.Context, cfg: dict, hard, hh) -> pl.DataFrame:
    """BT linear on every cached SmolLM2 probe layer and pooling (one pass cached them all)."""
    probe = encoder(ctx, {"model": SWEEP})
    length = hard.frame["response"].str.len_chars().to_numpy().astype(float)
    rows = []
    for layer in probe.decoder_states.layers:
        for view in ("mean", "last"):
            enc = encoder(ctx, {"model": SWEEP, "layer": layer, "view": view})
            X = enc.encode_responses(hard.frame["prompt"].to_list(), hard.frame["response"].to_list())
            build = partial(within_prompt_pairs, pairs_per_prompt=cfg["pairs_per_prompt"], beta=None)
            reward = cross_val_rewards(BTLinear(), hard, X, cv=cfg["folds"], pairs=build,
                                       random_state=ctx.seed).reward
            hard_eval = Report(evaluate_rewards(reward, hard.scores, hard.groups, n="all",
                                                n_bootstrap=0)).to_dict()
            Xw, Xl = hh.embed(enc)
            hh_oof = cross_val_rewards(BTLinear(), hh, (Xw, Xl), cv=cfg["folds"], random_state=ctx.seed)
            rows.append({
                "layer": layer, "pooling": view,
                "hard_pairwise_accuracy": hard_eval["pairwise_accuracy"],
                "hard_spearman": hard_eval["spearman"],
                "hard_len_spearman": length_spearman(reward, length, hard.groups),
                "hh_pairwise_accuracy": pairwise_accuracy(hh_oof.reward_win, hh_oof.reward_lose),
            })
    return pl.DataFrame(rows)


def embed(ctx: C.Context, enc: Encoder, data: ScoredResponses) -> np.ndarray:
    X = data.embed(enc)
    ctx.new_texts += enc.last_stats["new"]
    return X


# -- the run -----------------------------------------------------------------------------------
def run(ctx: C.Context) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, dict]:
    cfg = C.config(ctx, QUICK, FULL)
    LEARNED.clear()
    n_prompts = cfg["n_prompts"] if ctx.args.n_prompts is None else ctx.args.n_prompts
    n_hh = cfg["n_hh"] if ctx.args.n_hh is None else ctx.args.n_hh
    reps = list(dict.fromkeys(ctx.args.representations or STUDY))
    datasets = list(dict.fromkeys(ctx.args.data or DATASETS))
    offset = ctx.args.prompt_offset
    if not 1 <= n_prompts <= C.N_ALPACA_PROMPTS - offset or offset < 0:
        raise SystemExit(f"--n-prompts {n_prompts} --prompt-offset {offset}: pass an offset of 0 or more "
                         f"and 1 to {C.N_ALPACA_PROMPTS} - offset prompts (AlpacaEval has "
                         f"{C.N_ALPACA_PROMPTS}).")
    ids = study_prompt_ids(n_prompts, offset)
    full = load_dataset("alpacaeval", ctx.args.data_dir).filter_prompts(ids)
    hard = load_dataset("alpacaeval-hard", ctx.args.data_dir).filter_prompts(ids)
    null = load_dataset("alpacaeval-nullmodel", ctx.args.data_dir).filter_prompts(ids)
    hh = load_dataset("hh-harmless", ctx.args.data_dir)
    if not 1 <= n_hh <= len(hh):
        raise SystemExit(f"--n-hh {n_hh}: hh-harmless has {len(hh)} pairs; pass 1 to {len(hh)}.")
    hh = hh.take(np.arange(n_hh))
    sample = np.random.RandomState(ctx.seed).choice(len(hard), cfg["cost_texts"], replace=False)
    sample_prompts = hard.frame["prompt"].gather(sample).to_list()
    sample_responses = hard.frame["response"].gather(sample).to_list()
    all_hard = load_dataset("alpacaeval-hard", ctx.args.data_dir).frame
    static_sample = np.random.RandomState(ctx.seed).choice(len(all_hard), cfg["cost_texts_static"],
                                                           replace=False)
    static_prompts = all_hard["prompt"].gather(static_sample).to_list()
    static_responses = all_hard["response"].gather(static_sample).to_list()
    scored_sets = [(d, {"alpacaeval-hard": hard, "alpacaeval": full}[d]) for d in DATASETS[1::-1]
                   if d in datasets]
    scored = [row for dataset, data in scored_sets for row in baseline_rows(ctx, dataset, data, null)]
    pairs: list[dict] = []
    for rep in reps:
        options = STUDY[rep]
        first = rep == reps[0]
        heads = study_heads(options)
        fitted = "fitted" in options
        if fitted:  # no encoder: each fold fits a clone of the representation
            enc = None
            rate = (embed_rate(ctx, STUDY["static"], static_prompts, static_responses)
                    if options["fitted"] == "static-tuned" else fit_rate(options, static_responses))
            X_null = null
        else:
            enc = encoder(ctx, options)
            no_transformer = options.get("model") in ("static", "static-split")
            rate = embed_rate(ctx, options, *((static_prompts, static_responses) if no_transformer
                                              else (sample_prompts, sample_responses)))
            X_null = embed(ctx, enc, null) if scored_sets else None
        for dataset, data in scored_sets:
            if dataset == "alpacaeval" and rep not in cfg["on_51_models"]:
                continue
            X = fitted_representation(ctx, options) if fitted else embed(ctx, enc, data)
            e = Embedded(data, X, length_features(data), null, X_null, length_features(null), heads)
            scored += scored_rows(ctx, cfg, dataset, rep, e, fit_scored(ctx, cfg, e), rate, first)
        if "hh-harmless" in datasets:
            if fitted:
                X_hh = fitted_representation(ctx, options)
            else:
                X_hh = hh.embed(enc)
                ctx.new_texts += enc.last_stats["new"]
            pairs += hh_rows(ctx, cfg, rep, hh, X_hh, heads, rate, first)
        print(f"{rep}: done ({rate:.1f} texts/s)", flush=True)
    with_sweep = ({"alpacaeval-hard", "hh-harmless"} <= set(datasets)
                  and any(STUDY[r].get("model") == SWEEP for r in reps))
    sweep = layer_sweep(ctx, cfg, hard, hh) if with_sweep else pl.DataFrame()
    scored_table = pl.DataFrame(scored, infer_schema_length=None)
    pairs_table = pl.DataFrame(pairs, infer_schema_length=None)
    for table, name in ((scored_table, "scored"), (pairs_table, "hh"), (sweep, "layer_sweep")):
        if table.height:
            C.write_csv(ctx, table, name)
    facts = {**cfg, "n_prompts": len(ids), "prompt_offset": offset,
             "n_hh_pairs": len(hh) if pairs else 0, "data": datasets,
             "static_tuned_top_tokens": dict(LEARNED),
             "representations": {r: STUDY[r] for r in reps}}
    return scored_table, pairs_table, sweep, facts


def _best(table: pl.DataFrame, dataset: str, metric: str) -> pl.DataFrame:
    """Each representation's best head on ``dataset`` by ``metric``."""
    rows = table.filter((pl.col("data") == dataset) & (pl.col("representation") != "–"))
    return rows.sort(metric, descending=True).group_by("representation", maintain_order=True).first()


def _plot(ctx: C.Context, scored: pl.DataFrame, pairs: pl.DataFrame, sweep: pl.DataFrame) -> None:
    panels = [(scored, "alpacaeval-hard", "vs_length_only",
               "BoN gain over the length-only head\n(win-rate points, 95% CI)"),
              (pairs, "hh-harmless", "pairwise_accuracy", "pairwise accuracy (95% CI)")]
    panels = [p for p in panels if p[0].height and (p[0]["data"] == p[1]).any()]
    if not panels and not sweep.height:
        return
    fig, axes = C.figure(ncols=len(panels) + bool(sweep.height))
    axes = np.atleast_1d(axes)
    for ax, (table, dataset, metric, label) in zip(axes, panels, strict=False):
        best = _best(table, dataset, metric)
        x = best["embed_texts_per_s"].to_numpy()
        y = best[metric].to_numpy()
        err = [y - best[f"{metric}_ci_low"].to_numpy(), best[f"{metric}_ci_high"].to_numpy() - y]
        ax.errorbar(x, y, yerr=err, fmt="o", capsize=3)
        for xi, yi, name, head in zip(x, y, best["representation"], best["head"], strict=True):
            ax.annotate(f"{name}\n({head})", (xi, yi), fontsize=7, xytext=(4, 4),
                        textcoords="offset points")
        ax.set(xscale="log", xlabel="embedding cost: texts / second (log, 2 cores)", ylabel=label,
               title=f"{dataset}: best head per representation")
        ax.axhline(0.0 if metric.startswith("vs_") else 0.5, color="grey", linestyle="--")
    if sweep.height:
        ax3 = axes[-1]
        for view, marker in (("mean", "o-"), ("last", "s--")):
            part = sweep.filter(pl.col("pooling") == view)
            ax3.plot(part["layer"], part["hard_pairwise_accuracy"], marker, label=f"hard, {view}")
            ax3.plot(part["layer"], part["hh_pairwise_accuracy"], marker, alpha=0.5, label=f"hh, {view}")
        ax3.set(xlabel="SmolLM2 layer", ylabel="pairwise accuracy (BT linear, out of fold)",
                title="SmolLM2-135M layer sweep")
        ax3.legend(fontsize=7)
    C.save_figure(ctx, fig, "quality_vs_cost")


def _ci(row: dict, metric: str, digits: int = 2) -> str:
    return C.fmt_ci(row, metric, digits)


def _baselines(scored: pl.DataFrame, dataset: str) -> dict[str, dict]:
    return {r["head"]: r for r in scored.filter(pl.col("data") == dataset).iter_rows(named=True)
            if r["representation"] == "–"}


def _headline(scored: pl.DataFrame, pairs: pl.DataFrame, sweep: pl.DataFrame,
              cost_rows: pl.DataFrame) -> tuple[dict, list[str]]:
    headline: dict[str, str] = {}
    findings: list[str] = []
    datasets = set(scored["data"]) if scored.height else set()
    if "alpacaeval-hard" in datasets:
        top = _best(scored, "alpacaeval-hard", "bon").sort("bon", descending=True).row(0, named=True)
        base = _baselines(scored, "alpacaeval-hard")
        hard_heads = scored.filter((pl.col("data") == "alpacaeval-hard") & (pl.col("representation") != "–"))
        least_hacked = hard_heads.sort("attack_rank").row(0, named=True)
        separated = top["vs_longest_ci_low"] > 0 and top["vs_random_ci_low"] > 0
        joint_rows = hard_heads.filter((pl.col("representation") == "minilm")
                                       & (pl.col("head") == "bt-linear"))
        joint = f", {joint_rows['attack_rank'][0]:.0%} by minilm + bt-linear" if joint_rows.height else ""
        headline |= {
            "hard: best": f"{top['representation']} + {top['head']}",
            "hard: BoN win rate": _ci(top, "bon"),
            "hard: random / longest / length-only / golden": " / ".join(
                f"{base[h]['bon']:.2f}" for h in ("random", "longest", "length-only", "golden")),
            "hard: gain vs longest": _ci(top, "vs_longest"),
            "hard: gain vs length-only head": _ci(top, "vs_length_only"),
        }
        findings += [
            f"alpacaeval-hard: best {top['representation']} + {top['head']} picks answers winning "
            f"{_ci(top, 'bon')}% (random {base['random']['bon']:.2f}, longest {base['longest']['bon']:.2f}, "
            f"length-only head {base['length-only']['bon']:.2f}, golden {base['golden']['bon']:.2f}); "
            f"paired gain in win-rate points over longest {_ci(top, 'vs_longest')}, over random "
            f"{_ci(top, 'vs_random')}, over the length-only head {_ci(top, 'vs_length_only')} (golden "
            f"logit over longest {_ci(top, 'vs_longest_logit')}): target (CI-separated over random and "
            f"longest) {'met' if separated else 'NOT met'}.",
            f"Null-model judge hack on alpacaeval-hard: ranked above {least_hacked['attack_rank']:.0%} of "
            f"real answers by {least_hacked['representation']} + {least_hacked['head']} (the least "
            f"fooled){joint}, {base['golden']['attack_rank']:.0%} by the judge.",
        ]
    if "alpacaeval" in datasets:
        full_top = _best(scored, "alpacaeval", "bon").sort("bon", descending=True).row(0, named=True)
        full_base = _baselines(scored, "alpacaeval")
        findings.append(
            f"alpacaeval (51 models): best {full_top['representation']} + {full_top['head']} "
            f"{_ci(full_top, 'bon')}% (longest {full_base['longest']['bon']:.2f}); paired gain over the "
            f"length-only head {_ci(full_top, 'vs_length_only')} points, "
            f"{_ci(full_top, 'vs_length_only_logit')} logit: goal {GOALS['alpacaeval_bon']:.0f}% "
            f"{'met' if full_top['bon'] >= GOALS['alpacaeval_bon'] else 'NOT met'}.")
    if pairs.height:
        hh_top = (_best(pairs, "hh-harmless", "pairwise_accuracy")
                  .sort("pairwise_accuracy", descending=True).row(0, named=True))
        headline |= {"hh: best": f"{hh_top['representation']} + {hh_top['head']}",
                     "hh: pairwise_accuracy": _ci(hh_top, "pairwise_accuracy", 3)}
        findings.append(
            f"hh-harmless: best {hh_top['representation']} + {hh_top['head']} "
            f"{_ci(hh_top, 'pairwise_accuracy', 3)} "
            f"(gain over length-only {_ci(hh_top, 'vs_length_only', 3)}): "
            f"goal {GOALS['hh_accuracy']} "
            f"{'met' if hh_top['pairwise_accuracy'] >= GOALS['hh_accuracy'] else 'NOT met'}.")
    if sweep.height:
        best_layer = sweep.sort("hard_pairwise_accuracy", descending=True).row(0, named=True)
        best_hh = sweep.sort("hh_pairwise_accuracy", descending=True).row(0, named=True)
        findings.append(
            f"SmolLM2 layer sweep (BT linear): best on hard is layer {best_layer['layer']} "
            f"({best_layer['pooling']}), pairwise accuracy {best_layer['hard_pairwise_accuracy']:.3f}, its "
            f"rewards' within-prompt Spearman with length {best_layer['hard_len_spearman']:.2f}; best on "
            f"hh is layer {best_hh['layer']} ({best_hh['pooling']}), "
            f"pairwise accuracy {best_hh['hh_pairwise_accuracy']:.3f}.")
    levers = {r["representation"]: r for r in cost_rows.iter_rows(named=True)
              if r["representation"] in LEVERS}
    findings += [_lever_finding(levers[rep]) for rep in LEVERS if rep in levers]
    for dataset, tokens in LEARNED.items():
        up = ", ".join(repr(t["token"]) for t in tokens if t["weight"] > 1)
        down = ", ".join(repr(t["token"]) for t in tokens if t["weight"] < 1)
        findings.append(f"static-tuned on {dataset}, first fold: the tokens it weighs up most: {up}; "
                        f"down most: {down}.")
    return headline, findings


def cost_table(scored: pl.DataFrame, pairs: pl.DataFrame) -> pl.DataFrame:
    """One row per representation: its embedding cost and its best head on each data set (the
    hard set by Best-of-N win rate, the 51 models likewise, HH by pairwise accuracy), with the
    paired gains over always-longest (hard) and over the length-only head (51 models, HH)."""
    parts = []
    for table, dataset, metric, keep, tag in (
        (scored, "alpacaeval-hard", "bon", ("bon", "vs_longest"), "hard"),
        (scored, "alpacaeval", "bon", ("bon", "vs_length_only"), "51"),
        (pairs, "hh-harmless", "pairwise_accuracy", ("pairwise_accuracy", "vs_length_only"), "hh"),
    ):
        if not table.height or not (table["data"] == dataset).any():
            continue
        best = _best(table, dataset, metric)
        cols = [f"{k}{end}" for k in keep for end in ("", "_ci_low", "_ci_high")]
        parts.append(best.select(
            "representation", "embed_texts_per_s",
            pl.col("head").alias(f"{tag}_head"), *(pl.col(c).alias(f"{tag}_{c}") for c in cols)))
    if not parts:
        return pl.DataFrame()
    out = parts[0]
    for part in parts[1:]:
        out = out.join(part.drop("embed_texts_per_s"), on="representation", how="full", coalesce=True)
    rates = pl.concat([p.select("representation", "embed_texts_per_s") for p in parts]).unique(
        "representation", keep="first")
    return out.drop("embed_texts_per_s").join(rates, on="representation").sort(
        "embed_texts_per_s", descending=True)


def _lever_finding(row: dict) -> str:
    """One representation's best row on each data set, with its cost, in one sentence."""
    said = []
    if row.get("hard_bon") is not None:
        said.append(f"hard set {_ci(row, 'hard_bon')}% ({row['hard_head']}; gain over longest "
                    f"{_ci(row, 'hard_vs_longest')})")
    if row.get("51_bon") is not None:
        said.append(f"51 models {_ci(row, '51_bon')}% ({row['51_head']}; over the length-only head "
                    f"{_ci(row, '51_vs_length_only')})")
    if row.get("hh_pairwise_accuracy") is not None:
        said.append(f"hh {_ci(row, 'hh_pairwise_accuracy', 3)} ({row['hh_head']}; over the "
                    f"length-only head {_ci(row, 'hh_vs_length_only', 3)})")
    return (f"{row['representation']} ({row['embed_texts_per_s']:.1f} texts/s): "
            + "; ".join(said) + ".")


def main(argv: Sequence[str] | None = None) -> dict:
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--n-prompts", type=int, default=None,
                            help="AlpacaEval prompts, a seeded subset (default 100; quick 4)")
        parser.add_argument("--prompt-offset", type=int, default=0,
                            help="skip the first K prompts of the seeded permutation (default 0): "
                                 "--prompt-offset 100 scores prompts the default study never saw")
        parser.add_argument("--n-hh", type=int, default=None,
                            help="the first N hh-harmless pairs (default 1000; quick 24; all: 2307)")
        parser.add_argument("--representations", nargs="+", choices=list(STUDY), default=None,
                            help="representations to score (default all)")
        parser.add_argument("--data", nargs="+", choices=list(DATASETS), default=None,
                            help="data sets to score (default all)")

    ctx = C.parse_args(NAME, __doc__, argv, add_arguments)
    scored, pairs, sweep, facts = run(ctx)
    gains = ["bon", "vs_random", "vs_longest", "vs_length_only", "vs_longest_logit"]
    scored_cols = ["data", "representation", "head", *gains, "spearman", "pairwise_accuracy",
                   "len_spearman", "attack_rank", "embed_texts_per_s", "fit_seconds"]

    def with_ci(table: pl.DataFrame, metrics: Sequence[str], digits: int) -> pl.DataFrame:
        return table.with_columns(
            pl.struct(pl.all()).map_elements(lambda r, m=m: C.fmt_ci(r, m, digits), return_dtype=pl.String)
            .alias(m) for m in metrics)

    for dataset in ("alpacaeval-hard", "alpacaeval"):
        part = scored.filter(pl.col("data") == dataset) if scored.height else scored
        if part.height:
            C.print_table(f"{dataset}: Best-of-all win rate (%) and paired gains, out of fold",
                          with_ci(part, gains, 2).select([c for c in scored_cols if c in part.columns]))
    if pairs.height:
        C.print_table("hh-harmless: pairwise accuracy, out of fold",
                      with_ci(pairs, ["pairwise_accuracy", "vs_length_only"], 3).select(
                          "representation", "head", "pairwise_accuracy", "vs_length_only",
                          "embed_texts_per_s",
                          "fit_seconds"))
    if sweep.height:
        C.print_table("SmolLM2-135M-Instruct layer sweep (BT linear)", sweep)
    _plot(ctx, scored, pairs, sweep)
    cost_rows = cost_table(scored, pairs)
    if cost_rows.height:
        C.print_table("Each representation's best head per data set, by embedding cost", cost_rows)
    headline, findings = _headline(scored, pairs, sweep, cost_rows)
    tables = {"cost_quality": cost_rows.to_dicts()} if cost_rows.height else None
    return C.write_summary(ctx, title=TITLE, headline=headline, findings=findings, tables=tables, setup={
        **facts, "heads": list(HEAD_NAMES),
        "pair_regime": "all (or pairs_per_prompt) within-prompt pairs of the training prompts, "
                       "labelled noiselessly by logit(judge_pref)",
        "n_bootstrap": ctx.args.n_bootstrap})


if __name__ == "__main__":
    main()
