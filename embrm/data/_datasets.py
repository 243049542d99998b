"""Built-in data sets by name: where each file lives, where it comes from, how to load it."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from embrm.data._containers import PreferencePairs, ScoredResponses
from embrm.exceptions import DatasetNotFoundError

#: judge_pref is clipped to [EPS, 1 - EPS] before its logit becomes the golden score.
JUDGE_PREF_EPS = 1e-9

#: Number of models (answers per prompt) in ``alpacaeval-hard``.
_HARD_BAND_SIZE = 10

#: Models never in ``alpacaeval-hard``: the judge's reference (judge_pref 0.5 by
#: construction) and ``gpt4_gamed`` (answers deliberately truncated).
_HARD_BAND_EXCLUDED = ("gpt4_1106_preview", "gpt4_gamed")


def _hard_band_models(frame: pl.DataFrame) -> list[str]:
    """The models of ``alpacaeval-hard``: the closest ``_HARD_BAND_SIZE`` in mean judge_pref.

    Models outside ``_HARD_BAND_EXCLUDED`` are sorted by their mean ``judge_pref`` over all
    prompts (ties by name); of every window of ``_HARD_BAND_SIZE`` neighbours, the one with
    the smallest spread (largest mean minus smallest) wins, the lowest-ranked on a tie.

    Parameters
    ----------
    frame : polars.DataFrame
        The ``alpacaeval`` file: columns ``model`` and ``judge_pref``.

    Returns
    -------
    list of str
        The chosen models, by increasing mean judge_pref.
    """
    means = (
        frame.filter(~pl.col("model").is_in(_HARD_BAND_EXCLUDED))
        .group_by("model")
        .agg(pl.col("judge_pref").mean())
        .sort("judge_pref", "model")
    )
    mean = means["judge_pref"].to_numpy()
    spread = mean[_HARD_BAND_SIZE - 1 :] - mean[: mean.size - _HARD_BAND_SIZE + 1]
    start = int(np.argmin(spread))
    return means["model"][start : start + _HARD_BAND_SIZE].to_list()


def _hard_band(frame: pl.DataFrame) -> pl.DataFrame:
    """Every prompt with the answers of :func:`_hard_band_models` only."""
    return frame.filter(pl.col("model").is_in(_hard_band_models(frame)))


@dataclass(frozen=True)
class DatasetInfo:
    """A built-in data set.

    Attributes
    ----------
    name : str
        Name for :func:`load_dataset` and the CLI.
    filename : str
        File in the data directory.
    kind : {"scored", "pairs"}
        Container it loads into.
    upstream : str
        Public source, for users who fetch the data themselves.
    licence : str
    description : str
    select : callable, optional
        Turns the file's frame into the data set's rows; None keeps every row.
    """

    name: str
    filename: str
    kind: str
    upstream: str
    licence: str
    description: str
    select: Callable[[pl.DataFrame], pl.DataFrame] | None = None


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            "alpacaeval",
            "alpacaeval_multimodel.parquet",
            "scored",
            "https://github.com/tatsu-lab/alpaca_eval — results/<model>/"
            "weighted_alpaca_eval_gpt4_turbo/annotations.json",
            "code Apache-2.0; instructions CC BY-NC 4.0; answers under their models' terms",
            "805 prompts x 51 LLM answers; score = logit(GPT-4-turbo judge_pref vs gpt4_1106_preview)",
        ),
        DatasetInfo(
            "alpacaeval-hard",
            "alpacaeval_multimodel.parquet",
            "scored",
            "https://github.com/tatsu-lab/alpaca_eval — results/<model>/"
            "weighted_alpaca_eval_gpt4_turbo/annotations.json",
            "code Apache-2.0; instructions CC BY-NC 4.0; answers under their models' terms",
            f"alpacaeval restricted to the {_HARD_BAND_SIZE} models closest in mean judge_pref: "
            f"805 prompts x {_HARD_BAND_SIZE} answers of similar quality (Best-of-N-like)",
            _hard_band,
        ),
        DatasetInfo(
            "alpacaeval-nullmodel",
            "alpacaeval_nullmodel_attack.parquet",
            "scored",
            "https://github.com/tatsu-lab/alpaca_eval — results/NullModel "
            "(the judge-hacking constant answer)",
            "code Apache-2.0; instructions CC BY-NC 4.0",
            "805 prompts x 1 adversarial constant answer that fooled the judge (reward-hacking probe)",
        ),
        DatasetInfo(
            "hh-harmless",
            "hh_rlhf_harmless_test.parquet",
            "pairs",
            "https://github.com/anthropics/hh-rlhf — harmless-base/test.jsonl.gz",
            "MIT",
            "2,307 human-labelled pairs (chosen = less harmful), split at the last Assistant turn",
        ),
    )
}


def data_dir(data_dir: str | os.PathLike | None = None) -> Path | None:
    """The data directory: the argument, else ``$EMBRM_DATA_DIR``, else None."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get("EMBRM_DATA_DIR")
    return Path(env).expanduser() if env else None


def _dataset_path(name: str, data_dir_: str | os.PathLike | None = None) -> Path:
    """Where the file of built-in data set ``name`` is; raises if it is not there."""
    if name not in DATASETS:
        raise KeyError(
            f"Unknown data set {name!r}. Built-in data sets: {sorted(DATASETS)}; "
            "for your own files use embrm.data.read_pairs / read_scored."
        )
    info = DATASETS[name]
    root = data_dir(data_dir_)
    if root is None:
        raise DatasetNotFoundError(
            f"No data directory for {name!r}: pass data_dir= (CLI: --data-dir) or set "
            f"EMBRM_DATA_DIR to the folder holding {info.filename}. Upstream: {info.upstream}"
        )
    path = root / info.filename
    if not path.is_file():
        raise DatasetNotFoundError(
            f"Data set {name!r} not found: looked for {path}. Put {info.filename} there or "
            f"point EMBRM_DATA_DIR / --data-dir at the folder that has it. It comes from "
            f"{info.upstream} (licence: {info.licence}); see data/{name}.md."
        )
    return path


def load_dataset(name: str, data_dir: str | os.PathLike | None = None) -> PreferencePairs | ScoredResponses:
    """Load a built-in data set by name.

    Parameters
    ----------
    name : {"alpacaeval", "alpacaeval-hard", "alpacaeval-nullmodel", "hh-harmless"}
    data_dir : str or path, optional
        Folder with the files; default ``$EMBRM_DATA_DIR``.

    Returns
    -------
    ScoredResponses or PreferencePairs
        ``alpacaeval*`` load as scored responses (score = logit of the clipped judge
        probability; ``response_id`` = the model), ``hh-harmless`` as pairs (group = pair).
        ``alpacaeval-hard`` keeps the answers of :func:`_hard_band_models` only.

    Examples
    --------
    >>> import embrm
    >>> pairs = embrm.load_dataset("hh-harmless")  # doctest: +SKIP
    >>> X_win, X_lose = pairs.embed(embrm.Encoder())  # doctest: +SKIP
    """
    path = _dataset_path(name, data_dir)
    frame = pl.read_parquet(path)
    if DATASETS[name].select is not None:
        frame = DATASETS[name].select(frame)
    if DATASETS[name].kind == "pairs":
        return PreferencePairs(frame.rename({"pair_id": "group"}), name=name)
    p = np.clip(frame["judge_pref"].to_numpy(), JUDGE_PREF_EPS, 1 - JUDGE_PREF_EPS)
    frame = frame.with_columns(
        pl.Series("score", np.log(p) - np.log1p(-p)), pl.col("model").alias("response_id")
    )
    return ScoredResponses(frame, name=name)
