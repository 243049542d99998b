"""One real TRL ``GRPOTrainer`` step whose rewards come from the reward service over HTTP
(``as_remote_reward_func`` against the app served by uvicorn in a thread): TRL logs exactly the
rewards the head gives the completions it generated."""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest
from _require import require
from _tiny_lm import tiny_llama
from test_grpo_step import PROMPTS, WORDS, FruitEncoder

from embrm.heads import BTLinear
from embrm.policy import as_remote_reward_func

uvicorn = require("uvicorn", reason="the serve extra is not installed: pip install 'embrm[serve]'")
require("httpx", reason="the serve extra is not installed: pip install 'embrm[serve]'")


@pytest.fixture
def service_url():
    """The fruit head behind the service, on a free loopback port, for the test's duration."""
    from embrm.serve import create_app

    encoder = FruitEncoder()
    rng = np.random.RandomState(0)
    a, b = rng.randint(0, 5, 200), rng.randint(0, 5, 200)
    keep = a != b
    win, lose = np.maximum(a, b)[keep], np.minimum(a, b)[keep]
    length = rng.uniform(0, 1, keep.sum())
    head = BTLinear().fit(np.c_[win, length], np.c_[lose, length], encoder_id=encoder.identity)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(head, encoder), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive()
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", head, encoder
    server.should_exit = True
    thread.join(30)


def test_grpo_trainer_step_with_rewards_from_the_service(tmp_path, service_url):
    import torch
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    url, head, encoder = service_url
    torch.set_num_threads(1)
    model, tokenizer = tiny_llama([WORDS, *PROMPTS])
    prompts = Dataset.from_dict({"prompt": [[{"role": "user", "content": p}] for p in PROMPTS]})
    config = GRPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, num_generations=4,
                        max_completion_length=8, max_steps=1, logging_steps=1, learning_rate=1e-3,
                        use_cpu=True, bf16=False, report_to="none", save_strategy="no", seed=0,
                        disable_tqdm=True)
    reward = as_remote_reward_func(url)
    trainer = GRPOTrainer(model=model, reward_funcs=reward, args=config, train_dataset=prompts,
                          processing_class=tokenizer)
    trainer.train()
    assert trainer.state.global_step == 1
    # the service embedded TRL's completions (one request, one batch) and TRL logged its rewards
    assert len(encoder.calls) == 2  # the service's warm-up, then the request
    seen_prompts, completions = encoder.calls[1]
    assert len(completions) == 4 and set(seen_prompts) <= set(PROMPTS)
    texts = [c[0]["content"] for c in trainer._logs["completion"]]
    assert sorted(texts) == sorted(completions)
    expected = head.reward(np.array([[sum(w in {"apple", "pear", "plum", "fig"} for w in t.split()),
                                      len(seen_prompts[0]) / 100] for t in texts]))
    np.testing.assert_allclose(trainer._logs["rewards"]["embrm_remote"], expected, rtol=0, atol=1e-6)
    logged = trainer.state.log_history[0]
    assert logged["rewards/embrm_remote/mean"] == pytest.approx(expected.mean(), abs=1e-5)
