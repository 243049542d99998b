"""experiments/bon_smollm.py --quick on the committed SmolLM2 answers: its outputs hold what
must hold whatever the numbers (exact Best-of-N is monotone, N=1 is the random pick); and
experiments/grpo_smollm.py --quick, three GRPO arms on a tiny random Llama."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from test_quick import EXPERIMENTS, _load


@pytest.fixture
def committed_answers_embedded(encoder):
    rows = json.loads((EXPERIMENTS.parent / "docs" / "notebooks" / "policy_candidates.json").read_text())
    prompts = [r["prompt"] for r in rows["prompts"] for _ in r["answers"]]
    encoder.encode_responses(prompts, [a for r in rows["prompts"] for a in r["answers"]])
    return rows


def test_bon_smollm_quick(tmp_path, data_dir, encoder, alpaca_embedded, committed_answers_embedded):
    out = tmp_path / "bon_smollm"
    summary = _load("bon_smollm").main(["--quick", "--out", str(out), "--data-dir", str(data_dir),
                                        "--cache-dir", str(encoder.cache_dir), "--n-bootstrap", "50"])
    assert summary == json.loads((out / "summary.json").read_text())
    assert summary["warm_cache"], "quick mode must only use cached vectors"
    assert (out / "bon_curve.png").is_file()
    table = pl.read_csv(out / "results.csv")
    assert table["n"].to_list() == [1, 2, 4, 8]
    n = np.array([1, 2, 4, 8])
    np.testing.assert_allclose(table["kl_bound"], np.log(n) - (n - 1) / n)
    # gains are paired within prompts: zero at N=1, and the value minus the N=1 value
    for key in ("proxy", "golden", "golden_bon"):
        assert table[f"{key}_gain"][0] == pytest.approx(0.0, abs=1e-12)
        np.testing.assert_allclose(table[f"{key}_gain"], table[key] - table[key][0], atol=1e-9)
    # exact expected maximum over random N-subsets never falls as N grows
    assert (np.diff(table["proxy"].to_numpy()) >= -1e-9).all()
    assert (np.diff(table["golden_bon"].to_numpy()) >= -1e-9).all()
    # N=1 is the random pick, whoever picks
    assert table["golden"][0] == pytest.approx(table["golden_bon"][0])
    assert (table["golden"] <= table["golden_bon"] + 1e-9).all()
    for key in ("proxy", "golden"):
        low, high = table[f"{key}_ci_low"], table[f"{key}_ci_high"]
        assert ((low <= table[key] + 1e-9) & (table[key] <= high + 1e-9)).all()
    setup = summary["setup"]
    assert setup["proxy"]["n_prompts"] + setup["golden"]["n_prompts"] <= 40
    assert setup["proxy"]["label_error_rate"] > 0 and setup["golden"]["label_error_rate"] == 0
    assert setup["n_prompts"] == len(committed_answers_embedded["prompts"])


def test_grpo_smollm_quick(tmp_path, data_dir, encoder, alpaca_embedded, committed_answers_embedded):
    """Three GRPO arms on a tiny random Llama: the proxy arms' rewards came from real ``embrm
    serve`` processes (the plain head, then the ensemble with the penalty), which are gone
    afterwards; every evaluated step has finite proxy, golden and KL values inside their intervals."""
    out = tmp_path / "grpo_smollm"
    summary = _load("grpo_smollm").main(["--quick", "--out", str(out), "--data-dir", str(data_dir),
                                         "--cache-dir", str(encoder.cache_dir), "--n-bootstrap", "50",
                                         "--penalty-weight", "0.5"])
    assert summary == json.loads((out / "summary.json").read_text())
    assert (out / "grpo_curves.png").is_file()
    table = pl.read_csv(out / "results.csv")
    steps = summary["setup"]["grpo"]["max_steps"]
    assert steps == 2
    assert table["arm"].unique(maintain_order=True).to_list() == ["proxy", "proxy+penalty", "golden"]
    for arm in ("proxy", "proxy+penalty", "golden"):
        part = table.filter(pl.col("arm") == arm)
        assert part["step"].to_list() == [0, 1, 2]
        for key in ("proxy", "golden", "kl", "proxy_gain", "golden_gain"):
            columns = (key, f"{key}_ci_low", f"{key}_ci_high")
            values, low, high = (part[c].to_numpy().astype(float) for c in columns)
            assert np.isfinite(values).all() and np.isfinite(low).all() and np.isfinite(high).all()
            assert ((low <= values + 1e-9) & (values <= high + 1e-9)).all()
        # step 0 is the start policy: no KL to itself, no gain; the trained policy has moved
        start = part.row(0, named=True)
        assert start["kl"] == 0.0 and start["kl_ci_high"] == 0.0
        assert start["proxy_gain"] == 0.0 and start["golden_gain"] == 0.0
        assert (part["kl"][1:] != 0).all()
        np.testing.assert_allclose(part["golden_gain"], part["golden"] - start["golden"], atol=1e-9)
    # the start policy is evaluated once, for every arm
    assert table.filter(pl.col("step") == 0)["golden"].n_unique() == 1
    runs = summary["setup"]["runs"]
    completions = summary["setup"]["grpo"]["prompts_per_step"] * summary["setup"]["grpo"]["num_generations"]
    served = (("proxy", "BTLinear", None, None), ("proxy+penalty", "Ensemble", "lcb", 0.5))
    for arm, head, penalty, weight in served:
        service = runs[arm]["service"]
        assert (service["head"], service["penalty"], service["penalty_weight"]) == (head, penalty, weight)
        # every completion TRL generated was scored by the service, one request per step
        assert service["requests"] == steps and service["answers"] == steps * completions
        assert service["returncode"] == -signal.SIGTERM  # stopped by our SIGTERM, not killed
        assert not Path(f"/proc/{service['pid']}").exists(), "the reward service outlived the run"
        assert len(runs[arm]["train_reward"]) == steps
    assert runs["golden"]["reward_name"] == "golden_head" and "service" not in runs["golden"]
    assert len(runs["golden"]["train_reward"]) == steps


def test_grpo_reward_service_is_stopped_when_the_script_gets_sigterm(tmp_path, encoder):
    """A SIGTERM to the script running GRPO unwinds through ``reward_service``: the ``embrm
    serve`` process it started is stopped, not left behind."""
    import os
    import subprocess
    import sys

    from embrm.heads import BTLinear
    from embrm.testing import make_preference_pairs

    data = make_preference_pairs(n_pairs=200, n_features=384, random_state=0)
    head_path = tmp_path / "head.npz"
    BTLinear().fit(data.X_win, data.X_lose, encoder_id=encoder.identity).save(head_path)
    script = f"""
import os, signal, sys, time
from pathlib import Path
sys.path.insert(0, {str(EXPERIMENTS)!r})
from grpo_smollm import reward_service
service = reward_service(Path({str(head_path)!r}), model="minilm", cache_dir={str(encoder.cache_dir)!r})
with service as (url, p):
    print(p.pid, flush=True)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(120)
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    pid = int(run.stdout.split()[0])
    alive = Path(f"/proc/{pid}").exists()
    if alive:
        os.kill(pid, signal.SIGKILL)
    assert run.returncode == 128 + signal.SIGTERM, run.stderr[-2000:]
    assert not alive, "the reward service outlived the script"
