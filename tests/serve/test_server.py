"""``embrm serve`` as a real uvicorn subprocess on a free loopback port: the command, SIGTERM
draining, kill -9 and restart, the token rule, and the remote TRL reward function."""

from __future__ import annotations

import signal
import threading
import time

import numpy as np
import pytest
from _require import require
from _serving import SERVE_EXTRA, static_encoder, wait_healthy

httpx = require("httpx", reason=SERVE_EXTRA)
require("uvicorn", reason=SERVE_EXTRA)
require("starlette", reason=SERVE_EXTRA)

from embrm.cli import main  # noqa: E402
from embrm.exceptions import DataError, ServiceError  # noqa: E402
from embrm.policy import as_remote_reward_func, as_trl_reward_func  # noqa: E402

pytest_plugins = ["_serve_fixtures"]


def test_cli_serves_the_head_with_in_process_rewards(start_server, head_files, bt_head, serve_cache, texts):
    server = start_server(head_files["bt"])
    prompts, answers = texts[0][:10], texts[1][:10]
    got = httpx.post(f"{server.url}/v1/rewards", json={"prompts": prompts, "answers": answers}, timeout=30)
    expected = bt_head.reward(static_encoder(serve_cache).encode_responses(prompts, answers))
    np.testing.assert_array_equal(got.json()["rewards"], expected)
    info = httpx.get(f"{server.url}/info").json()
    assert info["head"] == "BTLinear" and info["representation"] == bt_head.encoder_id_
    assert info["cache_writes"] is False
    assert_clean_exit(server, server.stop())


def assert_clean_exit(server, code: int) -> None:
    """uvicorn finished its graceful shutdown; it then re-raises SIGTERM, so the exit status is
    0 or "terminated by SIGTERM"."""
    assert code in (0, -signal.SIGTERM), server.output()
    assert "Finished server process" in server.output()


def test_sigterm_lets_the_in_flight_request_finish(start_server, head_files, texts):
    # a batch window of 3 s keeps the request in flight while SIGTERM arrives
    server = start_server(head_files["bt"], "--max-wait-ms", "3000")
    prompts, answers = texts[0][:16], texts[1][:16]
    result: dict = {}

    def call() -> None:
        body = {"prompts": prompts, "answers": answers}
        result["response"] = httpx.post(f"{server.url}/v1/rewards", json=body, timeout=60)

    thread = threading.Thread(target=call)
    thread.start()
    deadline = time.monotonic() + 10
    while httpx.get(f"{server.url}/info").json()["stats"]["requests"] < 1:  # the request is queued
        assert time.monotonic() < deadline
        time.sleep(0.05)
    server.process.send_signal(signal.SIGTERM)
    thread.join(30)
    assert result["response"].status_code == 200
    assert len(result["response"].json()["rewards"]) == 16
    assert_clean_exit(server, server.process.wait(30))
    with pytest.raises(httpx.ConnectError):  # and it is gone
        httpx.get(f"{server.url}/health", timeout=2)


def test_after_kill_9_a_restart_on_the_same_port_serves_at_once(start_server, head_files, texts):
    server = start_server(head_files["bt"])
    body = {"prompts": texts[0][:4], "answers": texts[1][:4]}
    before = httpx.post(f"{server.url}/v1/rewards", json=body).json()
    server.stop(signal.SIGKILL)
    started = time.monotonic()
    again = start_server(head_files["bt"], port=server.port)
    assert time.monotonic() - started < 30
    assert httpx.post(f"{again.url}/v1/rewards", json=body).json() == before


def test_binding_beyond_loopback_needs_a_token(start_server, head_files, capsys):
    # 127.0.0.2 is not one of the loopback names the service trusts, yet stays on this machine
    assert main(["serve", str(head_files["bt"]), "--host", "127.0.0.2", "--port", "1"]) == 2
    assert "bearer token" in capsys.readouterr().err
    server = start_server(head_files["bt"], "--host", "127.0.0.2", env={"EMBRM_SERVE_TOKEN": "tok-1"})
    body = {"prompts": ["p"], "answers": ["a"]}
    assert httpx.post(f"{server.url}/v1/rewards", json=body).status_code == 401
    auth = {"Authorization": "Bearer tok-1"}
    assert httpx.post(f"{server.url}/v1/rewards", json=body, headers=auth).status_code == 200
    assert httpx.get(f"{server.url}/health").status_code == 200


def test_cli_refuses_bad_options_before_binding(head_files, serve_cache, capsys):
    cache = ["--cache-dir", str(serve_cache)]
    assert main(["serve", str(head_files["bt"]), *cache, "--penalty", "lcb", "--penalty-weight", "1"]) == 2
    assert "Ensemble" in capsys.readouterr().err
    assert main(["serve", str(head_files["bt"]), *cache, "--penalty", "uwo", "--penalty-weight", "1"]) == 2
    err = capsys.readouterr().err
    assert "--penalty uwo was renamed --penalty lcb" in err and "Ensemble" in err
    assert main(["serve", str(head_files["ensemble"]), *cache, "--penalty-weight", "1"]) == 2
    assert "--penalty lcb" in capsys.readouterr().err
    assert main(["serve", str(head_files["bt"]), *cache, "--replicas", "2"]) == 2
    assert "--engine ray" in capsys.readouterr().err


def test_cli_passes_the_old_penalty_name_on_as_lcb(head_files, serve_cache, capsys, monkeypatch):
    import embrm.serve

    seen = {}
    monkeypatch.setattr(embrm.serve, "serve", lambda head, **options: seen.update(options))
    cache = ["--cache-dir", str(serve_cache)]
    argv = ["serve", str(head_files["ensemble"]), *cache, "--penalty", "uwo", "--penalty-weight", "1"]
    assert main(argv) == 0
    assert (seen["penalty"], seen["penalty_weight"]) == ("lcb", 1.0)
    assert "--penalty uwo was renamed --penalty lcb" in capsys.readouterr().err


@pytest.mark.slow
def test_workers_each_serve_the_same_rewards(start_server, head_files, texts):
    server = start_server(head_files["bt"], "--workers", "2")
    body = {"prompts": texts[0][:4], "answers": texts[1][:4]}
    answers = [httpx.post(f"{server.url}/v1/rewards", json=body).json() for _ in range(6)]
    assert all(a == answers[0] for a in answers)
    assert_clean_exit(server, server.stop())


def test_remote_reward_func_equals_the_in_process_one(start_server, head_files, bt_head, serve_cache, texts):
    server = start_server(head_files["bt"], "--token", "tok-2")
    prompts = [[{"role": "user", "content": p}] for p in texts[0][:24]]
    completions = [[{"role": "assistant", "content": a}] for a in texts[1][:24]]
    local = as_trl_reward_func(bt_head, static_encoder(serve_cache))
    remote = as_remote_reward_func(server.url, token="tok-2")
    got = remote(prompts=prompts, completions=completions, completion_ids=None, trainer_state=None)
    expected = local(prompts=prompts, completions=completions, completion_ids=None)
    assert got == expected  # bit-identical: same vectors, same rows scored together
    assert remote.__name__ == "embrm_remote"
    texts_only = remote(prompts=texts[0][:3], completions=texts[1][:3])
    assert texts_only == local(prompts=texts[0][:3], completions=texts[1][:3])
    with pytest.raises(DataError, match="completions"):
        remote(prompts=["a"], completions=["b", "c"])
    with pytest.raises(ServiceError, match="401"):
        as_remote_reward_func(server.url, token="wrong")(prompts=["a"], completions=["b"])
    server.stop()
    with pytest.raises(ServiceError, match="could not reach"):
        as_remote_reward_func(server.url, retries=0, timeout=2)(prompts=["a"], completions=["b"])


def test_server_stays_up_through_bad_requests(start_server, head_files):
    server = start_server(head_files["bt"])
    for body in (b"{", b"[" * 50_000, b'{"query": [1]}', b"\x00\xff"):
        got = httpx.post(f"{server.url}/get_reward", content=body)
        assert got.status_code in (400, 422) and "error" in got.json()
    assert httpx.get(f"{server.url}/nope").status_code == 404
    wait_healthy(server, timeout=5)
