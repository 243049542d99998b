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
from _stand_ins import PROMPTS, FruitEncoder, fruit_head, tiny_grpo

from embrm.policy import as_remote_reward_func

uvicorn = require("uvicorn", reason="the serve extra is not installed: pip install 'embrm[serve]'")
require("httpx", reason="the serve extra is not installed: pip install 'embrm[serve]'")


@pytest.fixture
def service_url():
    """The fruit head behind the service, on a free loopback port, for the test's duration."""
    from embrm.serve import create_app

    encoder = FruitEncoder()
    head = fruit_head(encoder)
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
    from trl import GRPOTrainer

    url, head, encoder = service_url
    model, tokenizer, prompts, config = tiny_grpo(tmp_path)
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
