"""One real TRL ``GRPOTrainer`` step with ``as_trl_reward_func`` on a tiny random Llama: TRL
generates the completions, calls our reward function as it calls any plain one, and logs
exactly the rewards the head gives those completions (with the fruit-counting encoder below:
more fruit words, higher reward)."""

from __future__ import annotations

import numpy as np
import pytest
from _tiny_lm import tiny_llama

from embrm.heads import BTLinear
from embrm.policy import as_trl_reward_func

WORDS = "apple pear plum fig no yes one two three"
PROMPTS = ["Name a fruit.", "Say a word.", "Count with fruit.", "Give two fruits."]


FRUITS = {"apple", "pear", "plum", "fig"}


class FruitEncoder:
    """Embeds a response as ``[number of fruit words, prompt length / 100]``; records calls."""

    identity = "fruit-encoder-v1"

    def __init__(self):
        self.calls: list[tuple[list[str], list[str]]] = []

    def encode_responses(self, prompts, responses):
        self.calls.append((list(prompts), list(responses)))
        rows = zip(prompts, responses, strict=True)
        return np.array([[sum(w in FRUITS for w in r.split()), len(p) / 100] for p, r in rows], float)


def test_grpo_trainer_step_with_the_heads_reward(tmp_path):
    import torch
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    torch.set_num_threads(1)
    encoder = FruitEncoder()
    rng = np.random.RandomState(0)
    a, b = rng.randint(0, 5, 200), rng.randint(0, 5, 200)
    keep = a != b
    win, lose = np.maximum(a, b)[keep], np.minimum(a, b)[keep]
    length = rng.uniform(0, 1, keep.sum())
    head = BTLinear().fit(np.c_[win, length], np.c_[lose, length], encoder_id=encoder.identity)
    model, tokenizer = tiny_llama([WORDS, *PROMPTS])
    prompts = Dataset.from_dict({"prompt": [[{"role": "user", "content": p}] for p in PROMPTS]})
    config = GRPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, num_generations=4,
                        max_completion_length=8, max_steps=1, logging_steps=1, learning_rate=1e-3,
                        use_cpu=True, bf16=False, report_to="none", save_strategy="no", seed=0,
                        disable_tqdm=True)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    trainer = GRPOTrainer(model=model, reward_funcs=as_trl_reward_func(head, encoder), args=config,
                          train_dataset=prompts, processing_class=tokenizer)
    trainer.train()
    assert trainer.state.global_step == 1
    logged = trainer.state.log_history[0]
    # TRL called our function once, with one (prompt, completion) per generated completion
    assert len(encoder.calls) == 1
    seen_prompts, completions = encoder.calls[0]
    assert len(completions) == 4 and set(seen_prompts) <= set(PROMPTS) and len(set(seen_prompts)) == 1
    rewards = head.reward(encoder.encode_responses(seen_prompts, completions))
    assert logged["rewards/embrm_bt_linear/mean"] == pytest.approx(rewards.mean(), abs=1e-5)
    assert logged["reward"] == pytest.approx(rewards.mean(), abs=1e-5)
    assert logged["rewards/embrm_bt_linear/std"] == pytest.approx(rewards.std(ddof=1), abs=1e-5)
    # per completion, as TRL recorded them (TRL 1.16's trainer._logs): our reward of each text
    texts = [c[0]["content"] for c in trainer._logs["completion"]]
    assert sorted(texts) == sorted(completions)
    expected = head.reward(encoder.encode_responses(seen_prompts, texts))
    np.testing.assert_allclose(trainer._logs["rewards"]["embrm_bt_linear"], expected, rtol=0, atol=1e-6)
    assert np.ptp(rewards) > 0.1  # the seeded completions differ in reward: GRPO has a signal
    assert logged["loss"] != 0.0 and logged["grad_norm"] > 0
    changed = [k for k, v in model.named_parameters() if not bool(torch.equal(v.detach(), before[k]))]
    assert changed, "one GRPO step with non-zero advantages moves the policy"
