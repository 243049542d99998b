"""One real TRL ``GRPOTrainer`` step with ``as_trl_reward_func`` on a tiny random Llama: TRL
generates the completions, calls our reward function as it calls any plain one, and logs
exactly the rewards the head gives those completions (with the fruit-counting encoder of
``_stand_ins``: more fruit words, higher reward)."""

from __future__ import annotations

import numpy as np
import pytest
from _stand_ins import PROMPTS, FruitEncoder, fruit_head, tiny_grpo

from embrm.policy import as_trl_reward_func


def test_grpo_trainer_step_with_the_heads_reward(tmp_path):
    import torch
    from trl import GRPOTrainer

    encoder = FruitEncoder()
    head = fruit_head(encoder)
    model, tokenizer, prompts, config = tiny_grpo(tmp_path)
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
