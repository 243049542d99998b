"""Active annotation: how many labels each selection strategy needs, on real data.

For each seed, prompts are split into a pool part and a held-out part (30% of prompts,
seeded). The pool holds candidate pairs of the pool prompts (AlpacaEval: random
within-prompt pairs, labelled on request by a simulated annotator on the golden score
logit(judge_pref), the noise model of ``within_prompt_pairs``; hh-harmless: the pool is the
labelled pairs and the human label is revealed when a pair is asked). Every strategy starts
from the same random seed set and adds a batch per round up to the budget; a linear
Bradley-Terry head (``BTLinear``) is refitted after each round and measured on the held-out
prompts: pairwise accuracy, and exact Best-of-N on AlpacaEval. The full-data reference is
the same head fitted on every pool pair, labelled by the same annotator.

Headline: labels each strategy needs to reach 95% of the full-data accuracy and of the
full-data Best-of-16 win rate (and stay there for the rest of the curve), as a ratio to
random's, with a 95% bootstrap interval over seeds; and the mean of each learning curve
against random's on the same seeds (paired, with a bootstrap interval). Variants (full
runs) probe why: D-optimal's prior strength, the seed-set size, annotator noise, a
cross-prompt pool, embeddings projected on 32 principal components (more labels than
dimensions), a linear truth (the judge replaced by a linear reward over the same
embeddings, so the designs' model is right) and the head's own prior (features
standardised as ``BTLinear`` does, ``prior_strength`` = its ``alpha``).

``--designs`` adds the designs' options that temper the pool's geometry (normalised or
capped differences, the posterior outcome variance, two pairs per prompt per batch, a random
share of each batch, and all of them together) beside random and the defaults.
``--budgets 1000,2000,4000`` adds, per seed, one longer campaign (batches of
``--large-batch``) read at each of these label counts (capped at the pool: hh-harmless's
pool holds about 1,600 pairs, so its largest budget is the whole pool).

    python experiments/active_learning.py           # 5 seeds, both data sets, variants
    python experiments/active_learning.py --quick   # the quick subsets, 2 seeds
    python experiments/active_learning.py --designs --budgets 1000,2000,4000 --no-variants
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.decomposition import PCA

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

from embrm.active import (  # noqa: E402
    STRATEGIES,
    GoldenAnnotator,
    cross_prompt_pool,
    held_out_metrics,
    responses_from_pairs,
    simulate_active,
    within_prompt_pool,
)
from embrm.data import ScoredResponses  # noqa: E402
from embrm.heads import (
    BTLinear,  # noqa: E402
    feature_scale,  # noqa: E402
)
from embrm.model_selection import group_train_test_split  # noqa: E402

NAME = "active_learning"
TITLE = "Active annotation: labels to reach 95% of full-data quality"
TARGET = 0.95
BON_METRIC = "winrate_bon@16"
STRATEGY_ORDER = ("random", "dopt", "vopt", "pool-leverage", "uncertainty", "max-difference", "k-center")
#: The designs' options measured with ``--designs``: name -> (strategy, parameters).
DESIGN_OPTIONS: dict[str, tuple[str, dict]] = {
    "dopt unit": ("dopt", {"normalize": "unit"}),
    "dopt cap": ("dopt", {"normalize": "cap"}),
    "dopt posterior": ("dopt", {"weighting": "posterior"}),
    "dopt 2/prompt": ("dopt", {"max_per_prompt": 2}),
    "dopt mix 0.5": ("dopt", {"random_share": 0.5}),
    "dopt all": (
        "dopt",
        {"normalize": "unit", "weighting": "posterior", "max_per_prompt": 2, "random_share": 0.25},
    ),
    "vopt unit": ("vopt", {"normalize": "unit"}),
}


def make_strategy(name: str, prior_strength: float):
    """The strategy a results row names: a CLI name or one of :data:`DESIGN_OPTIONS`."""
    base, params = DESIGN_OPTIONS.get(name, (name, {}))
    strategy = STRATEGIES[base]()
    if "prior_strength" in strategy.get_params():
        params = {"prior_strength": prior_strength, **params}
    return strategy.set_params(**params)


@dataclass(frozen=True)
class Setting:
    """One simulated annotation campaign (a row group of the results)."""

    name: str
    dataset: str
    strategies: tuple[str, ...]
    n_seed: int
    batch_size: int
    budget: int
    pairs_per_prompt: int | None = 20
    pool_type: str = "within"
    beta: float | None = None
    prior_strength: float = 0.1
    #: Project the embeddings on this many principal components of the pool's responses
    #: (fitted without labels) before designing and fitting: more labels than dimensions.
    n_components: int | None = None
    #: Replace the judge by a linear reward over the same embeddings (the judge-trained
    #: full-pool head's): the model the designs assume is then the true one.
    planted: bool = False
    #: Divide every feature by its spread over the pool's responses, as ``BTLinear`` does
    #: before its penalty: with ``prior_strength`` equal to the head's ``alpha`` the designs'
    #: prior is then the head's own.
    standardize: bool = False
    #: Label counts at which a longer campaign is read (one row group ``budget=<n>`` each,
    #: capped at the pool); empty: read at ``budget`` only.
    report_budgets: tuple[int, ...] = ()


def settings(ctx: C.Context) -> list[Setting]:
    if ctx.quick:
        hh = Setting("main", "hh-harmless", STRATEGY_ORDER, n_seed=20, batch_size=20, budget=140)
        alpaca = Setting(
            "main", "alpacaeval", STRATEGY_ORDER, n_seed=20, batch_size=20, budget=140, pairs_per_prompt=30
        )
    else:
        hh = Setting("main", "hh-harmless", STRATEGY_ORDER, n_seed=25, batch_size=25, budget=500)
        alpaca = Setting(
            "main",
            "alpacaeval",
            STRATEGY_ORDER,
            n_seed=25,
            batch_size=25,
            budget=400,
            pairs_per_prompt=ctx.args.pairs_per_prompt or 20,
        )
    pair = ("random", "dopt", "vopt")
    designs = tuple(DESIGN_OPTIONS) if ctx.args.designs else ()
    hh, alpaca = (
        replace(hh, strategies=hh.strategies + designs),
        replace(alpaca, strategies=alpaca.strategies + designs),
    )
    budgets = tuple(sorted(int(b) for b in ctx.args.budgets.split(",") if b)) if ctx.args.budgets else ()
    large = (
        [
            replace(
                s,
                name="large",
                strategies=pair + designs,
                batch_size=ctx.args.large_batch,
                budget=budgets[-1],
                report_budgets=budgets,
                pairs_per_prompt=(ctx.args.large_pairs_per_prompt or s.pairs_per_prompt)
                if s.dataset == "alpacaeval"
                else s.pairs_per_prompt,
            )
            for s in (hh, alpaca)
        ]
        if budgets
        else []
    )
    if ctx.quick or not ctx.args.variants:
        return [hh, alpaca, *large]
    return [
        hh,
        alpaca,
        *large,
        replace(hh, name="prior=1", strategies=("dopt",), prior_strength=1.0),
        replace(hh, name="seed=100", strategies=pair, n_seed=100),
        replace(alpaca, name="prior=0.01", strategies=("dopt",), prior_strength=0.01),
        replace(alpaca, name="prior=1", strategies=("dopt",), prior_strength=1.0),
        replace(alpaca, name="prior=10", strategies=("dopt",), prior_strength=10.0),
        replace(alpaca, name="beta=1", strategies=pair, beta=1.0),
        replace(alpaca, name="cross-prompt", strategies=pair, pool_type="cross"),
        replace(alpaca, name="pca=32", strategies=pair, n_components=32),
        replace(alpaca, name="linear truth", strategies=pair, planted=True),
        replace(
            alpaca, name="head's prior", strategies=pair, standardize=True, prior_strength=BTLinear().alpha
        ),
    ]


def add_arguments(parser) -> None:
    parser.add_argument("--seeds", type=int, default=None, help="seeds per setting (default 5; quick 2)")
    parser.add_argument("--only", default=None, help="run only settings of this data set")
    parser.add_argument(
        "--designs", action="store_true", help="also run the designs' options (DESIGN_OPTIONS)"
    )
    parser.add_argument(
        "--budgets", default="", help="larger budgets, e.g. 1000,2000,4000: one longer campaign read at each"
    )
    parser.add_argument("--large-batch", type=int, default=100, help="batch size of the longer campaign")
    parser.add_argument(
        "--large-pairs-per-prompt",
        type=int,
        default=None,
        help="AlpacaEval: pool pairs per prompt of the longer campaign",
    )
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (one setting and seed each)")
    parser.add_argument(
        "--no-variants",
        dest="variants",
        action="store_false",
        help="skip the variant sweep (prior, noise, ...)",
    )


@dataclass
class Campaign:
    """What one seed of one data set shares across strategies."""

    pool: object
    X: np.ndarray
    annotator: GoldenAnnotator
    evaluate: object
    full: dict


def _campaign(ctx: C.Context, data: dict, setting: Setting, seed: int) -> Campaign:
    if setting.dataset == "hh-harmless":
        hh: C.Pairs = data["hh"]
        tr, te = group_train_test_split(hh.groups, 0.3, random_state=seed)
        responses = responses_from_pairs(hh.data.take(tr))
        X = np.vstack([hh.X_win[tr], hh.X_lose[tr]])
        evaluate = held_out_metrics(hh.data.take(te), (hh.X_win[te], hh.X_lose[te]))
        scores = responses.scores
    else:
        sc: C.Scored = data["alpaca"]
        tr, te = group_train_test_split(sc.groups, 0.3, random_state=seed)
        responses = sc.data.take(tr)
        X, X_test = sc.X[tr], sc.X[te]
        if setting.n_components:
            pca = PCA(setting.n_components, random_state=seed).fit(X)
            X, X_test = pca.transform(X), pca.transform(X_test)
        if setting.standardize:
            X = np.asarray(X)
            scale = feature_scale(X, X, np.full(len(X), 1.0 / len(X)))  # the head's own rule
            X, X_test = X / scale, X_test / scale
        evaluate = held_out_metrics(sc.data.take(te), X_test, ns=(4, 16, "all"), win_rate=sc.win_rate[te])
        scores = responses.scores
    if setting.pool_type == "cross":
        n_within = len(within_prompt_pool(responses, setting.pairs_per_prompt, random_state=seed))
        pool = cross_prompt_pool(responses, n_within, random_state=seed)
    else:
        pool = within_prompt_pool(responses, setting.pairs_per_prompt, random_state=seed)
    annotator, full_head = _annotate(pool, X, scores, setting.beta, seed)
    if setting.planted:
        test = sc.data.take(te)
        planted = test.frame.with_columns(pl.Series("score", full_head.reward(X_test)))
        evaluate = held_out_metrics(ScoredResponses(planted, "planted"), X_test, ns=(4, 16, "all"))
        annotator, full_head = _annotate(pool, X, full_head.reward(X), setting.beta, seed)
    full = {"n_labels": len(pool), **evaluate(full_head)}
    return Campaign(pool, X, annotator, evaluate, full)


def _annotate(pool, X: np.ndarray, scores: np.ndarray, beta: float | None, seed: int):
    """The golden annotator on ``scores`` and the head fitted on all of its pool labels."""
    annotator = GoldenAnnotator(scores, beta=beta).fit(pool, seed)
    a_wins = annotator.label(pool, np.arange(len(pool)))
    win = np.where(a_wins, pool.index_a, pool.index_b)
    lose = np.where(a_wins, pool.index_b, pool.index_a)
    return annotator, BTLinear().fit(X[win], X[lose], groups=pool.frame["prompt_id_a"].to_numpy())


def labels_to_reach(curve: pl.DataFrame, metric: str, target: float) -> float:
    """The fewest labels from which on ``metric`` stays at or above ``target`` for the rest
    of the curve (a single lucky round does not count); NaN if the last round is below."""
    below = np.flatnonzero(curve[metric].to_numpy() < target)
    n_labels = curve["n_labels"].to_numpy()
    if not len(below):
        return float(n_labels[0])
    return float(n_labels[below[-1] + 1]) if below[-1] + 1 < len(n_labels) else float("nan")


def _readings(setting: Setting, pool_size: int) -> list[tuple[str, int]]:
    """(row-group name, label count) at which a campaign is read."""
    if not setting.report_budgets:
        return [(setting.name, setting.budget)]
    # a budget beyond the pool reads the whole pool; only the first such is kept
    kept = [b for b in setting.report_budgets if b < pool_size]
    kept += [b for b in setting.report_budgets if b >= pool_size][:1]
    return [(f"budget={b}", min(b, pool_size)) for b in kept]


def _reach_row(key: dict, curve: pl.DataFrame, camp: Campaign) -> dict:
    """Labels to the target (accuracy and, where measured, Best-of-N) of one curve."""
    row = {
        **key,
        "pool_size": len(camp.pool),
        "full_accuracy": camp.full["pairwise_accuracy"],
        "labels_accuracy": labels_to_reach(
            curve, "pairwise_accuracy", TARGET * camp.full["pairwise_accuracy"]
        ),
        "curve_mean_accuracy": float(curve["pairwise_accuracy"].mean()),
    }
    if BON_METRIC in camp.full:
        row["full_bon"] = camp.full[BON_METRIC]
        row["labels_bon"] = labels_to_reach(curve, BON_METRIC, TARGET * camp.full[BON_METRIC])
        row["curve_mean_bon"] = float(curve[BON_METRIC].mean())
    return row


#: What the worker processes of ``--jobs`` share (set before they fork).
_SHARED: dict = {}


def _one_seed(task: tuple[Setting, int]) -> tuple[list[pl.DataFrame], list[dict]]:
    """Every strategy of one setting on one seed: the curves and the labels-to-target rows."""
    setting, seed = task
    ctx, data = _SHARED["ctx"], _SHARED["data"]
    camp = _campaign(ctx, data, setting, seed)
    curves, reach = [], []
    for name in setting.strategies:
        curve = simulate_active(
            make_strategy(name, setting.prior_strength),
            camp.pool,
            camp.X,
            camp.annotator,
            camp.evaluate,
            n_seed=setting.n_seed,
            batch_size=setting.batch_size,
            budget=min(setting.budget, len(camp.pool)),
            random_state=seed,
        )
        key = {"dataset": setting.dataset, "setting": setting.name, "strategy": name, "seed": seed}
        curves.append(
            curve.with_columns(
                *(pl.lit(v).alias(k) for k, v in key.items()),
                pl.lit(len(camp.pool)).alias("pool_size"),
                *(pl.lit(v).alias(f"full_{k}") for k, v in camp.full.items() if k != "n_labels"),
            )
        )
        for name_at, at in _readings(setting, len(camp.pool)):
            reach.append(
                _reach_row({**key, "setting": name_at}, curve.filter(pl.col("n_labels") <= at), camp)
            )
    print(
        f"{setting.dataset} {setting.name} seed {seed}: pool {len(camp.pool)}, full accuracy "
        f"{camp.full['pairwise_accuracy']:.3f}",
        flush=True,
    )
    return curves, reach


def _start_worker(argv: list[str]) -> None:
    """A ``--jobs`` worker: the run's options and data, loaded once."""
    ctx = C.parse_args(NAME, __doc__, argv, add_arguments)
    _SHARED.update(ctx=ctx, data=_load(ctx, settings(ctx)))


def _load(ctx: C.Context, todo: list[Setting]) -> dict:
    data: dict = {}
    if any(s.dataset == "hh-harmless" for s in todo):
        data["hh"] = C.load_hh(ctx)
    if any(s.dataset == "alpacaeval" for s in todo):
        data["alpaca"] = C.load_alpaca(ctx)
    return data


def run(ctx: C.Context) -> tuple[pl.DataFrame, pl.DataFrame]:
    n_seeds = ctx.args.seeds or (2 if ctx.quick else 5)
    todo = [s for s in settings(ctx) if ctx.args.only in (None, s.dataset)]
    if ctx.args.jobs <= 1:
        _SHARED.update(ctx=ctx, data=_load(ctx, todo))
    tasks = [(setting, ctx.seed + s) for setting in todo for s in range(n_seeds)]
    if ctx.args.jobs > 1:
        # the longest campaigns first, so the workers finish together; fresh interpreters
        # (a fork of a process running polars' threads can deadlock), each loading the data
        order = sorted(range(len(tasks)), key=lambda i: -tasks[i][0].budget * len(tasks[i][0].strategies))
        spawn = multiprocessing.get_context("spawn")
        with spawn.Pool(ctx.args.jobs, initializer=_start_worker, initargs=(ctx.argv,)) as pool:
            done = dict(zip(order, pool.map(_one_seed, [tasks[i] for i in order], chunksize=1), strict=True))
        outputs = [done[i] for i in range(len(tasks))]
    else:
        outputs = [_one_seed(task) for task in tasks]
    curves = [c for out in outputs for c in out[0]]
    reach = [r for out in outputs for r in out[1]]
    results = pl.concat(curves, how="diagonal_relaxed")
    return results, pl.DataFrame(reach, infer_schema_length=None)


def ratio_table(reach: pl.DataFrame, budget: dict, n_bootstrap: int, seed: int) -> pl.DataFrame:
    """Per data set, setting and strategy: mean labels to the target and the ratio to
    random's (same seeds; a seed that never reached it counts as the budget, a lower bound)
    with a percentile bootstrap interval over seeds."""
    rng = np.random.RandomState(seed)
    rows = []
    for (dataset, setting, strategy), part in reach.group_by(
        ["dataset", "setting", "strategy"], maintain_order=True
    ):
        base_setting = (
            setting
            if reach.filter(
                (pl.col("dataset") == dataset)
                & (pl.col("setting") == setting)
                & (pl.col("strategy") == "random")
            ).height
            else "main"
        )
        base = reach.filter(
            (pl.col("dataset") == dataset)
            & (pl.col("setting") == base_setting)
            & (pl.col("strategy") == "random")
        ).sort("seed")
        part = part.sort("seed")
        row = {
            "dataset": dataset,
            "setting": setting,
            "strategy": strategy,
            "n_seeds": part.height,
            "random_from": base_setting,
        }
        idx = rng.randint(0, part.height, size=(n_bootstrap, part.height))
        for metric in ("accuracy", "bon"):
            col = f"curve_mean_{metric}"
            if col not in part.columns or part[col].null_count() == part.height:
                continue
            # mean over the learning curve, paired with random's on the same seeds
            gain = part[col].to_numpy() - base[col].to_numpy()
            boot = gain[idx].mean(axis=1)
            row.update(
                {
                    col: part[col].mean(),
                    f"curve_gain_{metric}": float(gain.mean()),
                    f"curve_gain_{metric}_ci_low": float(np.percentile(boot, 2.5)),
                    f"curve_gain_{metric}_ci_high": float(np.percentile(boot, 97.5)),
                }
            )
        for metric in ("accuracy", "bon"):
            col = f"labels_{metric}"
            if col not in part.columns or part[col].null_count() == part.height:
                continue
            cap = budget[(dataset, setting)]
            mine = np.nan_to_num(part[col].to_numpy(), nan=cap)
            theirs = np.nan_to_num(base[col].to_numpy(), nan=budget[(dataset, base_setting)])
            reached = int(np.isfinite(part[col].to_numpy()).sum())
            ratios = mine[idx].mean(axis=1) / theirs[idx].mean(axis=1)
            row.update(
                {
                    f"labels_{metric}": float(mine.mean()),
                    f"reached_{metric}": f"{reached}/{part.height}",
                    f"ratio_{metric}": float(mine.mean() / theirs.mean()),
                    f"ratio_{metric}_ci_low": float(np.percentile(ratios, 2.5)),
                    f"ratio_{metric}_ci_high": float(np.percentile(ratios, 97.5)),
                }
            )
            # against the default design (dopt) of the same setting, on the same seeds
            dopt = reach.filter(
                (pl.col("dataset") == dataset)
                & (pl.col("setting") == setting)
                & (pl.col("strategy") == "dopt")
            ).sort("seed")
            if dopt.height == part.height and strategy != "dopt":
                default = np.nan_to_num(dopt[col].to_numpy(), nan=cap)
                to_dopt = mine[idx].mean(axis=1) / default[idx].mean(axis=1)
                row.update(
                    {
                        f"ratio_to_dopt_{metric}": float(mine.mean() / default.mean()),
                        f"ratio_to_dopt_{metric}_ci_low": float(np.percentile(to_dopt, 2.5)),
                        f"ratio_to_dopt_{metric}_ci_high": float(np.percentile(to_dopt, 97.5)),
                    }
                )
        rows.append(row)
    return pl.DataFrame(rows, infer_schema_length=None)


#: The issue's goal per data set: the largest ratio to random's labels (accuracy) that
#: counts, and whether the interval must lie below 1.
GOALS = {"alpacaeval": (0.8, True), "hh-harmless": (0.53, False)}


def _where(row: dict) -> str:
    return f"{row['strategy']} ({row['setting']})"


def _ci(row: dict, key: str = "ratio_accuracy") -> str:
    return f"{row[key]:.2f} [{row[key + '_ci_low']:.2f}, {row[key + '_ci_high']:.2f}]"


def goal_findings(table: pl.DataFrame) -> list[str]:
    """Per data set: whether any design (default or option) at any budget meets its goal,
    and the option that beat the default ``dopt`` with an interval below 1, if any."""
    out = []
    designs = pl.col("strategy").str.starts_with("dopt") | pl.col("strategy").str.starts_with("vopt")
    readings = (pl.col("setting") == "main") | pl.col("setting").str.starts_with("budget=")
    for dataset, (goal, clear) in GOALS.items():
        part = table.filter(
            (pl.col("dataset") == dataset) & designs & readings & pl.col("ratio_accuracy").is_not_null()
        )
        if not part.height:
            continue
        ok = part.filter(
            (pl.col("ratio_accuracy") <= goal) & ((pl.col("ratio_accuracy_ci_high") < 1.0) if clear else True)
        )
        best = part.sort("ratio_accuracy").row(0, named=True)
        rule = f"at most {goal:.2f}x random's labels" + (" with an interval below 1" if clear else "")
        if ok.height:
            hits = ", ".join(f"{_where(r)} {_ci(r)}" for r in ok.sort("ratio_accuracy").iter_rows(named=True))
            out.append(f"{dataset}, goal ({rule}): met by {hits}.")
        else:
            out.append(f"{dataset}, goal ({rule}): not met; lowest: {_where(best)} at {_ci(best)}.")
        if "ratio_to_dopt_accuracy_ci_high" in part.columns:
            better = part.filter(pl.col("ratio_to_dopt_accuracy_ci_high") < 1.0)
            if better.height:
                hits = ", ".join(
                    f"{_where(r)} {_ci(r, 'ratio_to_dopt_accuracy')}" for r in better.iter_rows(named=True)
                )
                out.append(f"{dataset}: labels against the default dopt's, interval below 1: {hits}.")
            else:
                out.append(
                    f"{dataset}: no option needs fewer labels than the default dopt with an interval below 1."
                )
    return out


def plot(ctx: C.Context, results: pl.DataFrame) -> None:
    main = results.filter(pl.col("setting") == "main")
    panels = [
        ("hh-harmless", "pairwise_accuracy"),
        ("alpacaeval", "pairwise_accuracy"),
        ("alpacaeval", BON_METRIC),
    ]
    panels = [(d, m) for d, m in panels if main.filter(pl.col("dataset") == d).height]
    fig, axes = C.figure(ncols=len(panels), size=(5.5, 4.2))
    for ax, (dataset, metric) in zip(axes, panels, strict=False):
        part = main.filter(pl.col("dataset") == dataset)
        for strategy in STRATEGY_ORDER:
            s = part.filter(pl.col("strategy") == strategy)
            if not s.height:
                continue
            g = (
                s.group_by("n_labels")
                .agg(pl.col(metric).mean().alias("m"), pl.col(metric).std().alias("sd"), pl.len().alias("n"))
                .sort("n_labels")
            )
            half = 1.96 * g["sd"].fill_null(0).to_numpy() / np.sqrt(g["n"].to_numpy())
            ax.plot(g["n_labels"], g["m"], label=strategy, lw=2 if strategy in ("dopt", "random") else 1)
            ax.fill_between(g["n_labels"], g["m"] - half, g["m"] + half, alpha=0.15)
        full = part[f"full_{metric}"].mean()
        ax.axhline(full, color="k", ls=":", lw=1, label="all pool labels")
        ax.axhline(TARGET * full, color="grey", ls="--", lw=1, label="95% of it")
        ax.set_title(f"{dataset}: {metric}")
        ax.set_xlabel("labels")
        ax.legend(fontsize=7)
    C.save_figure(ctx, fig, "learning_curves")


def main(argv: Sequence[str] | None = None) -> dict:
    ctx = C.parse_args(NAME, __doc__, argv, add_arguments)
    results, reach = run(ctx)
    C.write_csv(ctx, results)
    C.write_csv(ctx, reach, "labels_to_target")
    budget = {}
    for s in settings(ctx):
        for name, at in _readings(s, 2**62):
            part = reach.filter((pl.col("dataset") == s.dataset) & (pl.col("setting") == name))
            if part.height:
                budget[(s.dataset, name)] = min(at, int(part["pool_size"].min()))
    table = ratio_table(reach, budget, ctx.args.n_bootstrap, ctx.seed)
    C.write_csv(ctx, table, "ratios")
    C.print_table("labels to 95% of full-data quality, ratio to random (95% CI over seeds)", table)
    plot(ctx, results)
    headline, findings = {}, []
    for row in table.filter(
        (pl.col("setting") == "main") | pl.col("setting").str.starts_with("budget=")
    ).iter_rows(named=True):
        for metric in ("accuracy", "bon"):
            if row.get(f"ratio_{metric}") is None:
                continue
            at = "" if row["setting"] == "main" else f" @{row['setting'].removeprefix('budget=')}"
            key = f"{row['dataset']} {row['strategy']} {metric}{at}"
            headline[key] = (
                f"{row[f'ratio_{metric}']:.2f} "
                f"[{row[f'ratio_{metric}_ci_low']:.2f}, {row[f'ratio_{metric}_ci_high']:.2f}]"
            )
    for dataset in table["dataset"].unique(maintain_order=True):
        part = table.filter((pl.col("dataset") == dataset) & (pl.col("setting") == "main"))
        best = part.sort("ratio_accuracy").row(0, named=True)
        dopt = part.filter(pl.col("strategy") == "dopt").row(0, named=True)
        findings.append(
            f"{dataset}: D-optimal needs {dopt['ratio_accuracy']:.2f}x random's labels to reach 95% "
            f"of full-data accuracy [{dopt['ratio_accuracy_ci_low']:.2f}, "
            f"{dopt['ratio_accuracy_ci_high']:.2f}]; "
            f"lowest: {best['strategy']} at {best['ratio_accuracy']:.2f}x; D-optimal's mean accuracy over "
            f"the curve is {dopt['curve_gain_accuracy']:+.4f} "
            f"[{dopt['curve_gain_accuracy_ci_low']:+.4f}, {dopt['curve_gain_accuracy_ci_high']:+.4f}] "
            "against random."
        )
    findings += goal_findings(table)
    setup = {
        "target": TARGET,
        "bon_metric": BON_METRIC,
        "head": "BTLinear()",
        "held_out_share_of_prompts": 0.3,
        "seeds": ctx.args.seeds or (2 if ctx.quick else 5),
        "settings": [s.__dict__ for s in settings(ctx)],
    }
    # Every row (main setting and variants): docs/active.md renders its tables from it.
    tables = {"ratios": table.to_dicts()}
    return C.write_summary(ctx, title=TITLE, headline=headline, findings=findings, setup=setup, tables=tables)


if __name__ == "__main__":
    main()
