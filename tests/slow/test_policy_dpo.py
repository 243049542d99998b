"""SmolLM2-135M-Instruct for real on the CPU (`-m slow`): seeded sampling, then a few DPO steps.

Pairs: for 12 AlpacaEval prompts, the best and the worst short answer by the judge's score
(``preference_dataset`` over the scores), 8 prompts to train on and 4 held out. After a few
DPOTrainer steps the training loss is below its start (log 2, policy = reference) and the
held-out implicit reward margin of chosen over rejected, zero before training, is positive.
"""

from __future__ import annotations

import numpy as np
import pytest

from embrm import load_dataset
from embrm.policy import generate_candidates, load_policy_model, preference_dataset, train_dpo

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2():
    import torch

    torch.set_num_threads(1)  # a shared CPU: spinning OpenMP threads cost more than they give
    return load_policy_model()


def test_generation_is_seeded_and_chat_formatted(smollm2):
    model, tokenizer = smollm2
    prompts = ["Name a colour.", [{"role": "user", "content": "Say hello."}]]
    kwargs = {"tokenizer": tokenizer, "temperature": 1.0, "max_new_tokens": 8, "batch_size": 3}
    first = generate_candidates(model, prompts, 3, random_state=0, **kwargs)
    assert [len(a) for a in first] == [3, 3] and all(isinstance(t, str) and t for a in first for t in a)
    assert generate_candidates(model, prompts, 3, random_state=0, **kwargs) == first
    assert generate_candidates(model, prompts, 3, random_state=1, **kwargs) != first
    # the chat template's end-of-turn token ends an answer and is not in the text
    assert not any("<|im_end|>" in t or "<|im_start|>" in t for a in first for t in a)


def _pairs(data_dir, prompt_ids):
    data = load_dataset("alpacaeval", data_dir).filter_prompts(prompt_ids).frame
    short = data.filter(data["response"].str.len_chars().is_between(20, 300))
    prompts, candidates, rewards = [], [], []
    for (_,), part in short.group_by(["prompt_id"], maintain_order=True):
        if part.height >= 2:
            prompts.append([{"role": "user", "content": part["prompt"][0]}])
            candidates.append(part["response"].to_list())
            rewards.append(np.log(part["judge_pref"].to_numpy() + 1e-9))
    return preference_dataset(prompts, candidates, rewards)


def test_smollm2_dpo_loss_falls_and_held_out_margin_grows(smollm2, data_dir, tmp_path):
    ids = np.random.RandomState(1).choice(805, size=40, replace=False)
    pairs = _pairs(data_dir, ids)
    assert len(pairs) >= 12
    train, held_out = pairs.select(range(8)), pairs.select(range(8, 12))
    model, tokenizer = smollm2  # trained in place: this test runs last
    trainer = train_dpo(model, train, tokenizer=tokenizer, eval_dataset=held_out, output_dir=tmp_path,
                        max_steps=6, per_device_train_batch_size=4, learning_rate=2e-5, beta=0.1,
                        max_length=256, logging_steps=1, seed=0, disable_tqdm=True)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert losses[0] == pytest.approx(np.log(2), abs=1e-3)  # step 1: policy == reference
    assert np.mean(losses[-2:]) < losses[0] - 0.05
    after = trainer.evaluate()
    assert after["eval_rewards/margins"] > 0.0


def test_dpo_experiment_quick(data_dir, encoder, tmp_path):
    """experiments/dpo_smollm.py --quick end to end: committed answers, 2 DPO steps, new answers."""
    import sys
    from pathlib import Path

    import polars as pl

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
    from test_quick import _load

    out = tmp_path / "dpo"
    summary = _load("dpo_smollm").main(["--quick", "--out", str(out), "--data-dir", str(data_dir),
                                        "--cache-dir", str(encoder.cache_dir), "--n-bootstrap", "50"])
    table = pl.read_csv(out / "results.csv")
    assert table["metric"].to_list() == ["golden reward", "proxy reward", "answer length (chars)"]
    assert summary["setup"]["losses"][0] == pytest.approx(np.log(2), abs=1e-3)
    assert summary["setup"]["n_train_pairs"] > 0 and (out / "dpo_round.png").is_file()
