"""Deterministic stand-ins for the policy tests: encoders that record their calls, the fruit
head, and the tiny GRPO run the TRL tests train one step of.

``ValueEncoder`` embeds a response as ``[leading number, prompt length / 100]``
(``"3 apples"`` -> 3); ``FruitEncoder`` as ``[number of fruit words, prompt length / 100]``.
A Bradley-Terry head fitted on "the higher first feature wins" then has a reward increasing
in that feature, so every pick, pair and logged reward is known in advance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from _tiny_lm import tiny_llama

from embrm.heads import BTLinear

WORDS = "apple pear plum fig no yes one two three"
PROMPTS = ["Name a fruit.", "Say a word.", "Count with fruit.", "Give two fruits."]
FRUITS = {"apple", "pear", "plum", "fig"}


class RecordingEncoder:
    """An encoder whose ``row(prompt, response)`` is each row's vector; records every call."""

    identity = "recording-encoder-v1"

    def __init__(self):
        self.calls: list[tuple[list[str], list[str]]] = []

    def row(self, prompt: str, response: str) -> list[float]:
        raise NotImplementedError

    def encode_responses(self, prompts, responses):
        self.calls.append((list(prompts), list(responses)))
        return np.array([self.row(p, r) for p, r in zip(prompts, responses, strict=True)], float)


class ValueEncoder(RecordingEncoder):
    """Embeds ``response`` as ``[leading number, prompt length / 100]``."""

    identity = "value-encoder-v1"

    def row(self, prompt: str, response: str) -> list[float]:
        return [float(response.split()[0]), len(prompt) / 100]


class FruitEncoder(RecordingEncoder):
    """Embeds a response as ``[number of fruit words, prompt length / 100]``."""

    identity = "fruit-encoder-v1"

    def row(self, prompt: str, response: str) -> list[float]:
        return [sum(w in FRUITS for w in response.split()), len(prompt) / 100]


def fruit_head(encoder: FruitEncoder) -> BTLinear:
    """BTLinear fitted on "more fruit words win", recorded as trained on ``encoder``."""
    rng = np.random.RandomState(0)
    a, b = rng.randint(0, 5, 200), rng.randint(0, 5, 200)
    keep = a != b
    win, lose = np.maximum(a, b)[keep], np.minimum(a, b)[keep]
    length = rng.uniform(0, 1, keep.sum())
    return BTLinear().fit(np.c_[win, length], np.c_[lose, length], encoder_id=encoder.identity)


def tiny_grpo(output_dir: Path) -> tuple[Any, Any, Any, Any]:
    """``(model, tokenizer, prompts, config)`` for one seeded GRPO step on CPU: the tiny Llama,
    ``PROMPTS`` as chat prompts, 4 generations of at most 8 tokens each."""
    import torch
    from datasets import Dataset
    from trl import GRPOConfig

    torch.set_num_threads(1)
    model, tokenizer = tiny_llama([WORDS, *PROMPTS])
    prompts = Dataset.from_dict({"prompt": [[{"role": "user", "content": p}] for p in PROMPTS]})
    config = GRPOConfig(output_dir=str(output_dir), per_device_train_batch_size=4, num_generations=4,
                        max_completion_length=8, max_steps=1, logging_steps=1, learning_rate=1e-3,
                        use_cpu=True, bf16=False, report_to="none", save_strategy="no", seed=0,
                        disable_tqdm=True)
    return model, tokenizer, prompts, config
