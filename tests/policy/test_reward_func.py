"""as_trl_reward_func, called exactly as TRL 1.16's GRPOTrainer._calculate_rewards calls a
plain reward function (keyword arguments, extra dataset columns and trainer hooks in kwargs)."""

from __future__ import annotations

import numpy as np
import pytest

from embrm.exceptions import EncoderMismatchError
from embrm.heads import BTLinear
from embrm.policy import as_trl_reward_func


def _call_like_grpo(reward_func, inputs, prompts, completions, completion_ids_list):
    # Mirrors trl/trainer/grpo_trainer.py::_calculate_rewards (TRL 1.16) for a callable.
    keys = [key for key in inputs[0] if key not in ["prompt", "completion", "completion_ids"]]
    reward_kwargs = {key: [example[key] for example in inputs] for key in keys}
    reward_kwargs["trainer_state"] = object()
    reward_kwargs["log_extra"] = lambda *a, **k: None
    reward_kwargs["log_metric"] = lambda *a, **k: None
    return reward_func(prompts=prompts, completions=completions, completion_ids=completion_ids_list,
                       **reward_kwargs)


@pytest.mark.parametrize("conversational", [False, True])
def test_called_like_grpo_trainer(value_head, value_encoder, conversational):
    texts = ["4 a", "1 b", "9 c", "4 d"]
    prompts = ["Count.", "Count.", "More.", "More."]
    if conversational:
        prompts_in = [[{"role": "user", "content": p}] for p in prompts]
        completions = [[{"role": "assistant", "content": t}] for t in texts]
    else:
        prompts_in, completions = prompts, texts
    inputs = [{"prompt": p, "completion": c, "completion_ids": [1, 2], "source": "x"}
              for p, c in zip(prompts_in, completions, strict=True)]
    func = as_trl_reward_func(value_head, value_encoder)
    rewards = _call_like_grpo(func, inputs, prompts_in, completions, [[1, 2]] * 4)
    assert isinstance(rewards, list) and all(type(r) is float for r in rewards)
    expected = value_head.reward(value_encoder.encode_responses(prompts, texts))
    np.testing.assert_allclose(rewards, expected)
    assert rewards[2] > rewards[0] > rewards[1]


def test_name_as_trl_logs_it(value_head, value_encoder):
    from trl.trainer.utils import get_callable_name

    assert get_callable_name(as_trl_reward_func(value_head, value_encoder)) == "embrm_bt_linear"
    assert get_callable_name(as_trl_reward_func(value_head, value_encoder, name="helpful")) == "helpful"


def test_mismatched_encoder_fails_at_creation(value_encoder):
    head = BTLinear().fit([[1.0, 0.0], [2.0, 0.0]], [[0.0, 0.0], [1.0, 0.0]], encoder_id="minilm-x")
    with pytest.raises(EncoderMismatchError, match="Pass the encoder the head was trained with"):
        as_trl_reward_func(head, value_encoder)
