"""What the experiments share: arguments, data through the embedding cache, cross-fitting by
prompt, the head menu, evaluation rows, and outputs (CSV, JSON summary, PNG, markdown table).

Every experiment is one command, ``python experiments/<name>.py [--quick] [--seed S]``,
that prints its table and writes ``results.csv``, ``summary.json`` and PNG figures into
``--out`` (default ``results/<name>/``). ``--quick`` touches only the embeddings the test
fixtures cache (40 AlpacaEval prompts x 51 answers, their null-model answers, the first
400 hh-harmless pairs) and runs in well under a minute.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from sklearn.utils import check_random_state

from embrm import Encoder, load_dataset
from embrm._core.files import atomic_write, atomic_write_text
from embrm.data import PreferencePairs, ScoredResponses, within_prompt_pairs
from embrm.embed import REPRESENTATIONS
from embrm.evaluate import evaluate_rewards
from embrm.heads import BTMLP, DRM, BTLinear, ClassifierHead, Ensemble, LGBMHead
from embrm.model_selection import CrossValRewards, Report, baseline_rewards, cross_val_rewards

REPO = Path(__file__).resolve().parents[1]
#: The subsets --quick uses (the test fixtures embed exactly these).
QUICK_N_PROMPTS = 40
QUICK_N_HH_PAIRS = 400
N_ALPACA_PROMPTS = 805
#: Best-of-N sizes every AlpacaEval table reports (51 answers per prompt).
BON_NS: tuple[int | str, ...] = (4, 8, 16, "all")


def quick_prompt_ids() -> np.ndarray:
    """The 40 AlpacaEval prompt ids of the test fixtures."""
    return np.sort(
        np.random.RandomState(0).choice(N_ALPACA_PROMPTS, size=QUICK_N_PROMPTS, replace=False)
    )


# -- arguments and run context ---------------------------------------------------------------
@dataclass
class Context:
    """One run of an experiment: its arguments, output folder, encoder and clock."""

    name: str
    args: argparse.Namespace
    argv: list[str]
    out: Path
    encoder: Encoder
    started: float = field(default_factory=time.perf_counter)
    new_texts: int = 0

    @property
    def quick(self) -> bool:
        return bool(self.args.quick)

    @property
    def seed(self) -> int:
        return int(self.args.seed)

    def embed(self, what: Callable[[Encoder], Any]) -> Any:
        """Run an embedding call and count texts that were not cached (warm-cache check)."""
        result = what(self.encoder)
        self.new_texts += int(self.encoder.last_stats.get("new", 0))
        return result


def parse_args(
    name: str,
    doc: str | None,
    argv: Sequence[str] | None,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> Context:
    """Parse the shared options (and an experiment's own) and set up the run."""
    parser = argparse.ArgumentParser(
        prog=f"experiments/{name}.py",
        description=(doc or "").strip().splitlines()[0] if doc else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true",
                        help="small real subsets the tests cache; < 1 minute")
    parser.add_argument("--data-dir", default=os.environ.get("EMBRM_DATA_DIR"),
                        help="folder with the data files (default $EMBRM_DATA_DIR)")
    parser.add_argument("--cache-dir", default=None,
                        help="embedding cache (default $EMBRM_CACHE_DIR or ~/.cache/embrm)")
    parser.add_argument("--out", default=None, help=f"output folder (default results/{name}/)")
    parser.add_argument("--seed", type=int, default=0, help="seeds folds, pairs, heads, bootstrap")
    parser.add_argument("--n-bootstrap", type=int, default=None,
                        help="bootstrap resamples of prompts for CIs (default 1000; 100 quick)")
    parser.add_argument("--cached-only", action="store_true",
                        help="AlpacaEval: keep only prompts whose answers are all cached")
    parser.add_argument("--pairs-per-prompt", type=int, default=None,
                        help="AlpacaEval: training pairs drawn per prompt (default: the "
                             "experiment's; raise it with --cached-only to rehearse full-size fits)")
    parser.add_argument("--representation", default="minilm", choices=sorted(REPRESENTATIONS),
                        help="how each (prompt, answer) becomes a vector (embrm.embed.REPRESENTATIONS)")
    if add_arguments is not None:
        add_arguments(parser)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.n_bootstrap is None:
        args.n_bootstrap = 100 if args.quick else 1000
    if args.data_dir is None:
        default = REPO.parent / "shared" / "data"
        args.data_dir = str(default) if default.is_dir() else None
    out = Path(args.out) if args.out else REPO / "results" / name
    out.mkdir(parents=True, exist_ok=True)
    encoder = Encoder(args.representation, cache_dir=args.cache_dir, show_progress=False)
    return Context(name, args, argv, out, encoder)


def add_folds(parser: argparse.ArgumentParser, help: str = "prompt-grouped folds") -> None:
    """Add ``--folds`` (default 5): the cross-fitting folds of an experiment that cross-fits."""
    parser.add_argument("--folds", type=int, default=5, help=help)


def config(ctx: Context, quick: dict, full: dict) -> dict:
    """The experiment's quick or full settings, with ``--pairs-per-prompt`` applied."""
    cfg = dict(quick if ctx.quick else full)
    if getattr(ctx.args, "pairs_per_prompt", None) is not None:
        cfg["pairs_per_prompt"] = ctx.args.pairs_per_prompt
    return cfg


# -- data ---------------------------------------------------------------------------------
@dataclass
class Embedded:
    """A data set with its embeddings, row-aligned: its length and prompt ids are the data's."""

    data: ScoredResponses | PreferencePairs

    def __len__(self) -> int:
        return len(self.data)

    @property
    def groups(self) -> np.ndarray:
        return self.data.groups


@dataclass
class Scored(Embedded):
    """A scored set (many answers per prompt) with its embeddings, row-aligned."""

    data: ScoredResponses
    X: np.ndarray

    @property
    def golden(self) -> np.ndarray:
        """logit(judge_pref): the golden reward."""
        return self.data.scores

    @property
    def win_rate(self) -> np.ndarray:
        """100 * judge_pref: the leaderboard's unit (win rate against the reference)."""
        return 100 * self.data.frame["judge_pref"].to_numpy()

    @property
    def length(self) -> np.ndarray:
        return self.data.frame["response"].str.len_chars().to_numpy().astype(np.float64)


def load_alpaca(ctx: Context, name: str = "alpacaeval", prompt_ids: Sequence[int] | None = None
                ) -> Scored:
    """AlpacaEval answers (or the null-model attack with ``name``), embedded through the cache.

    ``--quick``: the 40 fixture prompts; ``--cached-only``: prompts whose answers are all cached.
    """
    data = load_dataset(name, ctx.args.data_dir)
    if prompt_ids is None and ctx.quick:
        prompt_ids = quick_prompt_ids()
    if prompt_ids is not None:
        data = data.filter_prompts(prompt_ids)
    elif ctx.args.cached_only:
        frame = data.frame
        found = ctx.encoder.cached_mask(frame["prompt"].to_list(), frame["response"].to_list())
        ok = pl.DataFrame({"p": data.groups, "f": found}).group_by("p").agg(pl.col("f").all())
        data = data.filter_prompts(ok.filter(pl.col("f"))["p"].to_list())
        print(f"--cached-only: {data.frame['prompt_id'].n_unique()} {name} prompts fully cached")
    return Scored(data, ctx.embed(data.embed))


@dataclass
class Pairs(Embedded):
    """Labelled pairs with both answers embedded."""

    data: PreferencePairs
    X_win: np.ndarray
    X_lose: np.ndarray


def load_hh(ctx: Context) -> Pairs:
    """hh-harmless human pairs (chosen = less harmful); ``--quick``: the first 400."""
    data = load_dataset("hh-harmless", ctx.args.data_dir)
    if ctx.quick:
        data = data.take(np.arange(QUICK_N_HH_PAIRS))
    X_win, X_lose = ctx.embed(data.embed)
    return Pairs(data, X_win, X_lose)


# -- heads ----------------------------------------------------------------------------------
#: Every single head the experiments train, by name; each factory takes a seed.
HEADS: dict[str, Callable[[int], Any]] = {
    "bt-linear": lambda seed: BTLinear(),
    "bt-mlp": lambda seed: BTMLP(random_state=seed),
    "classifier": lambda seed: ClassifierHead(random_state=seed),
    "classifier-mlp": lambda seed: ClassifierHead(model="mlp", random_state=seed),
    "lgbm": lambda seed: LGBMHead(random_state=seed),
    "classifier-uncentred": lambda seed: ClassifierHead(center_by_group=False, random_state=seed),
    "classifier-mlp-uncentred": lambda seed: ClassifierHead(
        model="mlp", center_by_group=False, linear_base=False, random_state=seed
    ),
    "lgbm-uncentred": lambda seed: LGBMHead(center_by_group=False, random_state=seed),
    "lgbm-pairwise": lambda seed: LGBMHead(objective="pairwise", random_state=seed),
    "ensemble-bt-linear": lambda seed: Ensemble(BTLinear(), n_members=5, random_state=seed),
    "ensemble-bt-mlp": lambda seed: Ensemble(BTMLP(), n_members=5, random_state=seed),
    "drm": lambda seed: DRM(),
}
#: Which loss each head uses: Bradley-Terry (pairwise) or classification (pointwise).
LOSS = {
    "bt-linear": "BT", "bt-mlp": "BT", "lgbm-pairwise": "BT",
    "classifier": "classification", "classifier-mlp": "classification", "lgbm": "classification",
    "classifier-uncentred": "classification", "classifier-mlp-uncentred": "classification",
    "lgbm-uncentred": "classification",
    "ensemble-bt-linear": "BT", "ensemble-bt-mlp": "BT", "drm": "DRM (fitted head weights)",
}


def heads(names: Sequence[str]) -> dict[str, Callable[[int], Any]]:
    return {n: HEADS[n] for n in names}


# -- cross-fitting on AlpacaEval --------------------------------------------------------------
PAIR_REGIME = (
    "within-prompt pairs of the training prompts (embrm.data.within_prompt_pairs), labelled by "
    "a simulated Bradley-Terry annotator on the golden score logit(judge_pref) with scale = "
    "std of within-prompt score differences; beta=None is the noiseless annotator (ties dropped)"
)


def training_pairs(
    train: ScoredResponses,
    random_state: int,
    *,
    pairs_per_prompt: int | None,
    beta: float | None,
    size: int | None = None,
) -> PreferencePairs:
    """A fold's training pairs: ``pairs_per_prompt`` within-prompt pairs per training prompt
    (the same pairs at every beta), then the first ``size`` of one seeded permutation (so
    smaller sizes are nested in larger ones). Their ``label_error_rate`` is that of the subset."""
    pairs = within_prompt_pairs(train, pairs_per_prompt, beta, random_state=random_state)
    if size is not None and size < len(pairs):
        pairs = pairs.take(check_random_state(random_state).permutation(len(pairs))[:size])
    return pairs


def crossfit(
    sc: Scored,
    head_factories: dict[str, Callable[[int], Any]],
    *,
    betas: Sequence[float | None],
    sizes: Sequence[int | None],
    pairs_per_prompt: int | None,
    n_splits: int,
    seed: int,
) -> dict[tuple[str, int | None, float | None], CrossValRewards]:
    """Out-of-fold rewards of every head, noise level and number of pairs, keyed
    ``(head, size, beta)``, each from :func:`embrm.model_selection.cross_val_rewards` (pairs
    built inside each fold by :func:`training_pairs`). A size at or above a fold's number of
    pairs is skipped when None ("all") is also asked for."""
    results: dict[tuple[str, int | None, float | None], CrossValRewards] = {}
    ordered = sorted(sizes, key=lambda s: -1 if s is None else s)
    for beta in betas:
        n_all = None
        for size in ordered:
            if size is not None and n_all is not None and size >= n_all:
                continue  # "all" covers it
            build = partial(training_pairs, pairs_per_prompt=pairs_per_prompt, beta=beta, size=size)
            for name, make in head_factories.items():
                result = cross_val_rewards(make(seed), sc.data, sc.X, cv=n_splits, pairs=build,
                                           random_state=seed)
                results[(name, size, beta)] = result
                if size is None:
                    n_all = min(f.n_train_pairs for f in result.folds)
    return results


def beta_label(beta: float | None) -> str:
    return "none" if beta is None else f"{beta:g}"


# -- evaluation ------------------------------------------------------------------------------
def evaluate_scored(reward: np.ndarray, sc: Scored, ctx: Context,
                    ns: Sequence[int | str] = BON_NS) -> dict[str, float]:
    """Golden-score metrics with bootstrap CIs over prompts, plus BoN as a win rate (%), raw and
    length-controlled (``bon_lc@N``: the rewards residualised on log length within each prompt)."""
    golden = Report(evaluate_rewards(
        reward, sc.golden, sc.groups, n=list(ns), length=sc.length, n_bootstrap=ctx.args.n_bootstrap,
        random_state=ctx.seed)).to_dict()
    win = Report(evaluate_rewards(reward, sc.win_rate, sc.groups, n=list(ns), length=sc.length,
                                  n_bootstrap=0))
    for metric in win.metrics:
        if metric.startswith(("bon@", "bon_lc@", "golden_bon@")) or metric == "random":
            golden[f"winrate_{metric}"] = win.value(metric)
    return golden


def crossfit_table(ctx: Context, sc: Scored, results: dict[tuple, CrossValRewards],
                   with_baselines: bool = True) -> pl.DataFrame:
    """One row per baseline and per (head, size, beta) key of ``results``: the fold-averaged
    training facts (pairs, realised label error rate, fit seconds) and the out-of-fold
    evaluation of :func:`evaluate_scored`."""
    rows = []
    if with_baselines:
        for name, reward in baseline_rewards(sc.data).items():
            rows.append({"head": name, "loss": "baseline", "beta": "–", "n_train_pairs": 0,
                         **evaluate_scored(reward, sc, ctx)})
    for (name, _, beta), result in results.items():
        rows.append({"head": name, "loss": LOSS.get(name, "BT"), "beta": beta_label(beta),
                     "n_train_pairs": round(result.n_train_pairs),
                     "label_error_rate": result.label_error_rate,
                     "fit_seconds": result.fit_seconds, **evaluate_scored(result.reward, sc, ctx)})
    return pl.DataFrame(rows, infer_schema_length=None)


# -- outputs ----------------------------------------------------------------------------------
def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float | np.floating):
        if np.isnan(value):
            return "–"
        return f"{value:.{digits}f}"
    return str(value)


def fmt_ci(row: dict, metric: str, digits: int = 3) -> str:
    """``value [low, high]`` when the row has an interval for ``metric``."""
    value = fmt(row.get(metric), digits)
    low, high = row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high")
    if low is None or high is None or (isinstance(low, float) and np.isnan(low)):
        return value
    return f"{value} [{fmt(low, digits)}, {fmt(high, digits)}]"


def markdown(frame: pl.DataFrame, digits: int = 3) -> str:
    """A polars frame as a GitHub markdown table."""
    cols = frame.columns
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in frame.iter_rows():
        lines.append("| " + " | ".join(fmt(v, digits) for v in row) + " |")
    return "\n".join(lines)


def print_table(title: str, frame: pl.DataFrame, digits: int = 3) -> None:
    print(f"\n### {title}\n")
    print(markdown(frame, digits))
    sys.stdout.flush()


def write_csv(ctx: Context, frame: pl.DataFrame, name: str = "results") -> Path:
    path = ctx.out / f"{name}.csv"
    with atomic_write(path) as fh:
        frame.write_csv(fh)
    return path


def figure(ncols: int = 1, nrows: int = 1, size: tuple[float, float] = (5.5, 4.0)):
    """A matplotlib figure on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows),
                             squeeze=False)
    return fig, axes.ravel()


def save_figure(ctx: Context, fig: Any, name: str) -> Path:
    import matplotlib.pyplot as plt

    path = ctx.out / f"{name}.png"
    fig.tight_layout()
    with atomic_write(path) as fh:
        fig.savefig(fh, dpi=110, format="png")
    plt.close(fig)
    return path


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def machine(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The architecture, CPU model (``model name`` in ``/proc/cpuinfo``) and core count:
    ``x86_64, AMD EPYC, 2 cores``, the same string as ``benchmarks/_record.py``'s."""
    model = None
    try:
        for line in Path(cpuinfo).read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                model = " ".join(value.split())
                break
    except OSError:
        pass
    model = model or platform.processor() or "CPU model unknown"
    return f"{platform.machine()}, {model}, {os.cpu_count()} cores"


def write_summary(
    ctx: Context,
    *,
    title: str,
    headline: dict[str, Any],
    findings: list[str],
    setup: dict[str, Any],
    tables: dict[str, list[dict[str, Any]]] | None = None,
) -> dict:
    """Write ``summary.json``: what ran, how long, the headline numbers and what they say
    (and ``tables``, named lists of rows, where the guides render a table from the record).

    ``scripts/make_results.py --collect results`` records them and builds docs/results.md.
    """
    command = " ".join(["python", f"experiments/{ctx.name}.py", *map(shlex.quote, ctx.argv)])
    summary = {
        "experiment": ctx.name,
        "title": title,
        "command": command,
        "quick": ctx.quick,
        "seed": ctx.seed,
        "runtime_s": round(time.perf_counter() - ctx.started, 1),
        "new_embeddings": ctx.new_texts,
        "warm_cache": ctx.new_texts == 0,
        "machine": machine(),
        "finished_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "cached_only": bool(ctx.args.cached_only),
        "representation": ctx.args.representation,
        "setup": setup,
        "headline": headline,
        "findings": findings,
        "files": sorted(p.name for p in ctx.out.iterdir() if p.name != "summary.json"),
    }
    if tables:
        summary["tables"] = tables
    summary = _json_safe(summary)
    atomic_write_text(ctx.out / "summary.json", json.dumps(summary, indent=2) + "\n")
    print(f"\n{title}: {summary['runtime_s']} s; new embeddings: {ctx.new_texts}; "
          f"outputs in {ctx.out}")
    for line in findings:
        print(f"- {line}")
    return summary
