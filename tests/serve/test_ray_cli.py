"""``embrm serve --engine ray`` as a subprocess: it starts a local Ray, serves the app through Ray
Serve's proxy on loopback, and shuts Ray Serve down on SIGTERM.

Run with ``bash scripts/test.sh -m slow tests/serve/test_ray_cli.py``."""

from __future__ import annotations

import signal

import numpy as np
import pytest
from _require import require
from _serving import SERVE_EXTRA, static_encoder, wait_healthy

require("ray.serve", reason=SERVE_EXTRA)

httpx = require("httpx", reason=SERVE_EXTRA)

pytest_plugins = ["_serve_fixtures"]

pytestmark = pytest.mark.slow


def test_cli_engine_ray_serves_the_head_and_stops_on_sigterm(
    start_server, head_files, bt_head, serve_cache, texts
):
    server = start_server(head_files["bt"], "--engine", "ray", "--replicas", "1", wait=False)
    wait_healthy(server, timeout=180)
    prompts, answers = texts[0][:6], texts[1][:6]
    got = httpx.post(f"{server.url}/v1/rewards", json={"prompts": prompts, "answers": answers}, timeout=60)
    expected = bt_head.reward(static_encoder(serve_cache).encode_responses(prompts, answers))
    np.testing.assert_array_equal(got.json()["rewards"], expected)
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(120) == 0, server.output()
    assert "Ray Serve replicas at" in server.output()
