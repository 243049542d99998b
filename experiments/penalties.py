"""The penalties of the fitted representations, checked on data the representations study never sees.

``experiments/representations.py`` (experiment 6) scores ``lexical`` with BT linear at
``LEXICAL_HEAD["alpha"]`` and ``static-tuned`` with :class:`embrm.embed.RewardTunedStatic`'s
default ``alpha`` (the penalty on its per-token log-weights). Settings picked on the folds a
figure is reported on flatter that figure, so this experiment scores a grid of each penalty
on **disjoint** data:

- ``alpacaeval-hard``: the ``n_prompts`` AlpacaEval prompts that follow the study's in the
  same seeded permutation (the study uses the first 100), x the 10 models of most similar
  strength; heads train on within-prompt pairs labelled by the golden logit, as in the study;
- ``hh-harmless``: the pairs after the study's first 1,000.

Each setting is scored out of fold (prompt-grouped K-fold, the same folds for every setting):
within-prompt pairwise accuracy against the golden score and Best-of-N win rate (hard), and
pairwise accuracy (HH). The finding says, per data set and representation, the best setting
and where the study's setting stands against it.

    python experiments/penalties.py           # 200 disjoint prompts, 1,000 disjoint hh pairs
    python experiments/penalties.py --quick   # 6 prompts, 24 pairs, two settings each
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
import representations as study  # noqa: E402

from embrm import load_dataset  # noqa: E402
from embrm.data import within_prompt_pairs  # noqa: E402
from embrm.embed import FITTED_REPRESENTATIONS  # noqa: E402
from embrm.evaluate import evaluate_rewards, pairwise_accuracy  # noqa: E402
from embrm.model_selection import Report, cross_val_rewards  # noqa: E402

NAME = "penalties"
TITLE = "Penalties of the fitted representations, on data disjoint from experiment 6"
QUICK = {"n_prompts": 6, "n_hh": 24, "folds": 3, "pairs_per_prompt": None,
         "grid": {"lexical": (1.0, 3.0), "static-tuned": (100.0,)}}
FULL = {"n_prompts": 200, "n_hh": 1000, "folds": 5, "pairs_per_prompt": 200,
        "grid": {"lexical": (0.3, 1.0, 3.0, 10.0, 30.0), "static-tuned": (10.0, 100.0, 1000.0)}}
#: The study's first AlpacaEval prompts and HH pairs: this experiment uses the ones after them.
STUDY_PROMPTS = study.FULL["n_prompts"]
STUDY_HH = study.FULL["n_hh"]


def disjoint_prompt_ids(n: int) -> np.ndarray:
    """The ``n`` prompts that follow the study's in its seeded permutation (none of them in it)."""
    return study.study_prompt_ids(n, offset=STUDY_PROMPTS)


def study_setting(rep: str) -> float:
    """The penalty experiment 6 uses for ``rep``."""
    if rep == "lexical":
        return float(study.LEXICAL_HEAD["alpha"])
    return float(FITTED_REPRESENTATIONS[rep]().get_params()["alpha"])


def with_setting(ctx: C.Context, rep: str, alpha: float) -> tuple:
    """The study's head and unfitted representation for ``rep``, with the penalty set to ``alpha``
    (the head's for ``lexical``, the per-token weights' for ``static-tuned``)."""
    head = study.study_heads(study.STUDY[rep])["bt-linear"](ctx.seed)
    representation = study.fitted_representation(ctx, study.STUDY[rep])
    if rep == "lexical":
        head.set_params(alpha=alpha)
    else:
        representation.set_params(alpha=alpha)
    return head, representation


def run(ctx: C.Context) -> tuple[pl.DataFrame, dict]:
    cfg = C.config(ctx, QUICK, FULL)
    ids = disjoint_prompt_ids(cfg["n_prompts"])
    hard = load_dataset("alpacaeval-hard", ctx.args.data_dir).filter_prompts(ids)
    hh = load_dataset("hh-harmless", ctx.args.data_dir)
    hh = hh.take(np.arange(STUDY_HH, min(len(hh), STUDY_HH + cfg["n_hh"])))
    win_rate = 100 * hard.frame["judge_pref"].to_numpy()
    build = partial(within_prompt_pairs, pairs_per_prompt=cfg["pairs_per_prompt"], beta=None)
    rows = []
    for rep, grid in cfg["grid"].items():
        for alpha in grid:
            head, representation = with_setting(ctx, rep, alpha)  # each fit clones both
            result = cross_val_rewards(head, hard, representation, cv=cfg["folds"], pairs=build,
                                       random_state=ctx.seed)
            ranks = Report(evaluate_rewards(result.reward, hard.scores, hard.groups, n="all",
                                            n_bootstrap=0)).to_dict()
            quality = Report(evaluate_rewards(result.reward, win_rate, hard.groups, n="all",
                                              n_bootstrap=0)).to_dict()
            pairs = cross_val_rewards(head, hh, representation, cv=cfg["folds"], random_state=ctx.seed)
            rows.append({"representation": rep, "alpha": alpha, "study_setting": alpha == study_setting(rep),
                         "hard_pairwise_accuracy": ranks["pairwise_accuracy"], "hard_bon": quality["bon@all"],
                         "hh_pairwise_accuracy": pairwise_accuracy(pairs.reward_win, pairs.reward_lose),
                         "fit_seconds": result.fit_seconds + pairs.fit_seconds})
            print(f"{rep} alpha={alpha:g}: done", flush=True)
    table = pl.DataFrame(rows)
    C.write_csv(ctx, table)
    facts = {**{k: v for k, v in cfg.items() if k != "grid"},
             "grid": {k: list(v) for k, v in cfg["grid"].items()},
             "prompts_after_study": STUDY_PROMPTS, "hh_pairs_after_study": STUDY_HH,
             "n_prompts": len(ids), "n_hh_pairs": len(hh)}
    return table, facts


def findings(table: pl.DataFrame) -> tuple[dict, list[str]]:
    """Per representation and data set: the best setting, and the study's setting against it."""
    headline: dict[str, str] = {}
    said: list[str] = []
    for rep in table["representation"].unique(maintain_order=True):
        part = table.filter(pl.col("representation") == rep)
        chosen = part.filter(pl.col("study_setting"))
        for metric, label in (("hard_pairwise_accuracy", "hard set, pairwise accuracy"),
                              ("hh_pairwise_accuracy", "hh, pairwise accuracy")):
            best = part.sort(metric, descending=True).row(0, named=True)
            grid = ", ".join(f"{a:g}: {v:.3f}" for a, v in zip(part["alpha"], part[metric], strict=True))
            mine = (f"; the study's alpha={chosen['alpha'][0]:g} is {best[metric] - chosen[metric][0]:.3f} "
                    f"below the best" if chosen.height else "; the study's setting is not in the grid")
            said.append(f"{rep}, {label}, by alpha: {grid}; best alpha={best['alpha']:g}{mine}.")
            headline[f"{rep}: best alpha ({label.split(',')[0]})"] = f"{best['alpha']:g}"
    return headline, said


def main(argv: Sequence[str] | None = None) -> dict:
    ctx = C.parse_args(NAME, __doc__, argv)
    table, facts = run(ctx)
    C.print_table("Out-of-fold accuracy of each penalty on disjoint data", table)
    headline, said = findings(table)
    return C.write_summary(ctx, title=TITLE, headline=headline, findings=said, setup=facts)


if __name__ == "__main__":
    main()
