"""DPO from reward-head scores: preference pairs in TRL's format, trained by TRL's DPOTrainer."""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from embrm._core.stack import external_stacklevel
from embrm.data import is_conversation, render_response
from embrm.exceptions import DataError
from embrm.policy._generate import best_device, require_policy_extra
from embrm.policy._scoring import Text, check_candidates

#: How :func:`preference_dataset` pairs a prompt's scored candidates.
PAIRINGS = ("best-worst", "all")


def preference_dataset(
    prompts: Sequence[Text],
    candidates: Sequence[Sequence[Text]],
    rewards: Sequence[Any],
    *,
    pairing: str = "best-worst",
    margin: float = 0.0,
    **deprecated: Any,
) -> Any:
    """Preference pairs over scored candidates, as a ``datasets.Dataset`` in TRL's format.

    Per prompt, answers are paired by their rewards (``pairing``): ``"best-worst"`` takes the highest
    against the lowest (ties: the earliest candidate); ``"all"`` takes every pair of
    answers. A pair is kept when the chosen answer's reward exceeds the rejected one's by
    more than ``margin``, so equal rewards never make a pair.

    The columns are TRL's preference format, ``prompt``, ``chosen``, ``rejected``, plus
    ``score_chosen`` and ``score_rejected`` (the rewards). When the prompts are
    conversational (lists of messages) so is every row: ``prompt`` is the messages and
    ``chosen`` / ``rejected`` are one assistant message each; otherwise all three are
    strings. Write it for other trainers with ``dataset.to_json(path)`` (JSON lines) or
    ``dataset.to_parquet(path)``.

    Parameters
    ----------
    prompts : sequence of str or conversations
    candidates : sequence of sequences of str or conversations
        ``candidates[i]`` holds the answers to ``prompts[i]``.
    rewards : sequence of array-like
        ``rewards[i][j]`` is the reward of ``candidates[i][j]``
        (:func:`score_candidates` or ``pick_best_of_n(...).rewards``).
    pairing : {"best-worst", "all"}, default "best-worst"
        Which answers of a prompt make a pair (:data:`PAIRINGS`).
    margin : float, default 0.0
        Smallest reward gap (exclusive) a pair needs.
    **deprecated
        ``strategy``: the old name of ``pairing`` (warns).

    Returns
    -------
    dataset : datasets.Dataset
        One row per pair, prompts in their given order.

    Example
    -------
    >>> rewards = score_candidates(head, encoder, prompts, candidates)  # doctest: +SKIP
    >>> pairs = preference_dataset(prompts, candidates, rewards, pairing="all", margin=0.5)  # doctest: +SKIP
    >>> pairs.to_json("pairs.jsonl")  # doctest: +SKIP
    """
    if "strategy" in deprecated:
        warnings.warn(
            "preference_dataset(strategy=...) was renamed pairing=...; the old keyword will be "
            "removed in the next release.",
            DeprecationWarning,
            stacklevel=external_stacklevel(),
        )
        pairing = deprecated.pop("strategy")
    if deprecated:
        raise TypeError(f"preference_dataset() got unexpected keyword arguments {sorted(deprecated)}.")
    datasets = require_policy_extra("datasets", "Building DPO preference pairs")
    if pairing not in PAIRINGS:
        raise DataError(f"pairing must be one of {PAIRINGS}; got {pairing!r}.")
    if not np.isfinite(margin) or margin < 0:
        raise DataError(f"margin must be a finite number >= 0; got {margin!r}.")
    check_candidates(prompts, candidates)
    if len(rewards) != len(prompts):
        raise DataError(
            f"rewards must hold one array per prompt; got {len(rewards)} for {len(prompts)} prompts."
        )
    conversational = is_conversation(prompts[0])
    if any(is_conversation(p) != conversational for p in prompts):
        raise DataError("Mix of plain-text and conversational prompts: give all prompts in one form.")
    columns = ("prompt", "chosen", "rejected", "score_chosen", "score_rejected")
    rows: dict[str, list] = {k: [] for k in columns}
    for i, (prompt, answers, reward) in enumerate(zip(prompts, candidates, rewards, strict=True)):
        reward = np.asarray(reward, dtype=np.float64).reshape(-1)
        if reward.shape[0] != len(answers):
            raise DataError(f"Prompt {i} has {len(answers)} candidates but {reward.shape[0]} rewards.")
        if not np.isfinite(reward).all():
            raise DataError(f"Prompt {i} has a NaN or infinite reward.")
        if pairing == "best-worst":
            best, worst = int(np.argmax(reward)), int(np.argmin(reward))
            pairs = [(best, worst)]
        else:
            pairs = [(a, b) for a in range(len(answers)) for b in range(len(answers)) if a != b]
        for a, b in pairs:
            if reward[a] - reward[b] > margin:
                rows["prompt"].append(list(prompt) if conversational else prompt)
                for key, j in (("chosen", a), ("rejected", b)):
                    text = render_response(answers[j], f"candidates[{i}][{j}]")
                    rows[key].append([{"role": "assistant", "content": text}] if conversational else text)
                    rows[f"score_{key}"].append(float(reward[j]))
    return datasets.Dataset.from_dict(rows)


def dpo_config(output_dir: str | os.PathLike, **kwargs: Any) -> Any:
    """TRL's ``DPOConfig`` with device-aware precision: bf16 on CUDA, fp32 (``use_cpu``) else.

    ``DPOConfig`` defaults to bf16, which fails on a CPU; this picks what the machine runs.
    Nothing is reported to trackers (``report_to="none"``) unless asked for.

    Parameters
    ----------
    output_dir : str or path
        Where TRL writes checkpoints and logs.
    **kwargs
        Any ``DPOConfig`` field (``beta``, ``learning_rate``, ``max_steps``, ``max_length``,
        ``per_device_train_batch_size``, ``seed``, ...); they win over the defaults here.

    Returns
    -------
    config : trl.DPOConfig

    Example
    -------
    >>> config = dpo_config("runs/dpo", beta=0.1, max_steps=50, learning_rate=5e-6)
    """
    trl = require_policy_extra("trl", "DPO training")
    device, _ = best_device()
    defaults: dict[str, Any] = {"report_to": "none", "save_strategy": "no"}
    if device == "cuda":
        defaults.update(bf16=True)
    else:
        defaults.update(use_cpu=True, bf16=False)
    return trl.DPOConfig(output_dir=str(output_dir), **{**defaults, **kwargs})


def train_dpo(
    model: Any,
    train_dataset: Any,
    *,
    tokenizer: Any,
    config: Any = None,
    eval_dataset: Any = None,
    ref_model: Any = None,
    output_dir: str | os.PathLike | None = None,
    **config_kwargs: Any,
) -> Any:
    """Train ``model`` with TRL's ``DPOTrainer`` on preference pairs and return the trainer.

    TRL does the work (loss, reference log-probabilities, batching); this builds the
    config with :func:`dpo_config` when none is given, hands TRL a frozen copy of the model
    as the reference (TRL would otherwise reload it from its path, which fails for a model
    loaded from a GGUF file or built in memory), and runs ``trainer.train()``.
    Read the training curve from ``trainer.state.log_history`` and held-out implicit
    rewards from ``trainer.evaluate()`` (``eval_rewards/margins``, ``eval_loss``).

    Parameters
    ----------
    model : transformers causal LM
        Trained in place (e.g. from :func:`load_policy_model`).
    train_dataset : datasets.Dataset
        Pairs from :func:`preference_dataset`.
    tokenizer : transformers tokenizer
        The model's tokenizer (TRL's ``processing_class``).
    config : trl.DPOConfig, optional
        Default: ``dpo_config(output_dir, **config_kwargs)``.
    eval_dataset : datasets.Dataset, optional
        Held-out pairs for ``trainer.evaluate()``.
    ref_model : transformers causal LM, optional
        The reference policy; default a frozen copy of ``model`` as it is now.
    output_dir : str or path, optional
        Needed when ``config`` is None.
    **config_kwargs
        DPOConfig fields, with ``config`` None.

    Returns
    -------
    trainer : trl.DPOTrainer
        After training.

    Example
    -------
    >>> trainer = train_dpo(model, pairs, tokenizer=tokenizer, output_dir="runs/dpo",  # doctest: +SKIP
    ...                     max_steps=20, learning_rate=5e-6, beta=0.1)
    >>> trainer.evaluate(held_out_pairs)["eval_rewards/margins"]  # doctest: +SKIP
    """
    trl = require_policy_extra("trl", "DPO training")
    if config is None:
        if output_dir is None:
            raise DataError("Pass output_dir (where TRL writes its logs) or a ready DPOConfig as config.")
        config = dpo_config(output_dir, **config_kwargs)
    elif config_kwargs:
        raise DataError(
            f"Pass DPOConfig fields either in config or as keywords, not both: {sorted(config_kwargs)}."
        )
    if len(train_dataset) == 0:
        raise DataError(
            "No preference pairs to train on: lower the margin or give more candidates per prompt."
        )
    if ref_model is None:
        ref_model = copy.deepcopy(model).eval().requires_grad_(False)
    trainer = trl.DPOTrainer(
        model=model,
        ref_model=ref_model,
        args=config,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
    )
    trainer.train()
    return trainer
