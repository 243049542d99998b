"""The Ray engine on a local Ray instance: same vectors as in-process, fault tolerance.

Run with ``bash scripts/test.sh -m slow tests/embed/test_distributed.py`` (needs the
``dist`` extra, which ``scripts/setup.sh`` installs). Every test writes to a scratch cache.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from _require import require

ray = require("ray", reason="the dist extra is not installed: pip install 'embrm[dist]'")

from embrm import Encoder  # noqa: E402
from embrm.cli import main  # noqa: E402
from embrm.embed import RayEngine, VectorCache  # noqa: E402

pytestmark = pytest.mark.slow

N_TEXTS = 300
ACTOR = "MapBatches(EmbedActor)"


@pytest.fixture(scope="module")
def cluster():
    """A local 2-CPU Ray instance with a small object store, shut down afterwards."""
    context = ray.init(
        num_cpus=2,
        object_store_memory=300_000_000,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
    )
    yield context.address_info["address"]
    ray.shutdown()


@pytest.fixture(scope="module")
def texts(data_dir) -> list[str]:
    """300 real texts: distinct AlpacaEval instructions."""
    frame = pl.read_parquet(data_dir / "alpacaeval_multimodel.parquet", columns=["prompt_id", "prompt"])
    return frame.unique("prompt_id").sort("prompt_id")["prompt"].head(N_TEXTS).to_list()


@pytest.fixture(scope="module")
def reference(texts, encoder, tmp_path_factory) -> np.ndarray:
    """The in-process vectors of ``texts`` (computed, not read from the shared cache)."""
    root = _scratch(tmp_path_factory.mktemp("reference"), encoder)
    return Encoder(cache_dir=root, show_progress=False).encode(texts)


def _scratch(root: Path, encoder) -> Path:
    """An empty cache holding a copy of the exported model (no re-export)."""
    import shutil

    encoder.session  # noqa: B018 - export once, into the shared cache
    shutil.copytree(encoder.model_dir, root / "models" / encoder.identity)
    return root


def _cached(root: Path, encoder) -> int:
    return len(VectorCache(root, encoder.cache.identity))


def _wait_for_first_shard(root: Path, encoder, timeout: float = 120.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (n := _cached(root, encoder)) > 0:
            return n
        time.sleep(0.02)
    raise AssertionError("no shard was imported in time")


def _actor_pids() -> list[int]:
    """This session's embedding actors: our descendants whose title names the actor."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, stack = [], [os.getpid()]
    while stack:
        for pid in children.get(stack.pop(), []):
            stack.append(pid)
            try:
                if ACTOR in Path(f"/proc/{pid}/cmdline").read_text():
                    found.append(pid)
            except OSError:
                pass
    return found


def test_same_vectors_as_in_process_and_only_missing_work_is_sent(
    cluster, texts, reference, encoder, tmp_path
):
    root = _scratch(tmp_path, encoder)
    ray_encoder = Encoder(cache_dir=root, engine=RayEngine(address=cluster, num_workers=2))
    first = ray_encoder.encode(texts[:200])
    assert ray_encoder.engine.last_run == {"texts": 200, "workers": 2, "device": "cpu"}
    np.testing.assert_array_equal(first, reference[:200])
    vectors = ray_encoder.encode(texts)
    assert ray_encoder.engine.last_run["texts"] == 100  # only the missing texts went to the cluster
    assert ray_encoder.last_stats == {"texts": N_TEXTS, "cached": 200, "new": 100}
    np.testing.assert_array_equal(vectors, reference)
    report = ray_encoder.cache.verify()
    assert report.ok and report.n_vectors == N_TEXTS


def test_cli_engine_ray_embeds_pairs_like_the_local_engine(cluster, data_dir, encoder, tmp_path, capsys):
    frame = pl.read_parquet(data_dir / "alpacaeval_multimodel.parquet").head(30)
    path = tmp_path / "pairs.parquet"
    frame.select("prompt", chosen=pl.col("response").str.head(300), rejected=pl.lit("No.")).write_parquet(
        path
    )
    root = _scratch(tmp_path / "cache", encoder)
    argv = ["embed", str(path), "--cache-dir", str(root), "--model", "minilm"]  # the model of `encoder`
    argv += ["--engine", "ray", "--address", cluster]
    assert main([*argv, "--workers", "2"]) == 0
    assert "60 texts" in capsys.readouterr().out
    from embrm.data import read_any

    pairs = read_any(path)
    local = pairs.embed(Encoder(cache_dir=_scratch(tmp_path / "local", encoder), show_progress=False))
    distributed = pairs.embed(Encoder(cache_dir=root, show_progress=False))  # reads only
    np.testing.assert_array_equal(distributed[0], local[0])
    np.testing.assert_array_equal(distributed[1], local[1])


def test_killed_actor_is_restarted_and_the_result_is_complete(cluster, texts, reference, encoder, tmp_path):
    root = _scratch(tmp_path, encoder)
    engine = RayEngine(address=cluster, num_workers=2, shard_size=8)
    ray_encoder = Encoder(cache_dir=root, batch_size=4, engine=engine)
    result: dict[str, np.ndarray] = {}
    worker = threading.Thread(target=lambda: result.update(vectors=ray_encoder.encode(texts)))
    worker.start()
    n_at_kill = _wait_for_first_shard(root, encoder)
    victims = _actor_pids()
    assert victims, "no embedding actor found to kill"
    os.kill(victims[0], signal.SIGKILL)
    worker.join(timeout=300)
    assert n_at_kill < N_TEXTS  # killed mid-run
    np.testing.assert_array_equal(result["vectors"], reference)
    report = ray_encoder.cache.verify()
    assert report.ok and report.n_vectors == N_TEXTS


def test_killed_driver_rerun_embeds_only_what_is_missing(cluster, texts, reference, encoder, tmp_path):
    root = _scratch(tmp_path, encoder)
    (tmp_path / "texts.json").write_text(json.dumps(texts))
    driver = (
        "import json\nfrom embrm import Encoder\nfrom embrm.embed import RayEngine\n"
        f"texts = json.load(open({str(tmp_path / 'texts.json')!r}))\n"
        f"engine = RayEngine(address={cluster!r}, num_workers=2, shard_size=8)\n"
        f"Encoder(cache_dir={str(root)!r}, batch_size=4, engine=engine).encode(texts)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", driver], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_for_first_shard(root, encoder)
    finally:
        process.kill()
        process.wait(timeout=30)
    n_before = _cached(root, encoder)
    assert 0 < n_before < N_TEXTS, "the driver was not killed mid-run"
    report = VectorCache(root, encoder.cache.identity).verify(repair=True)  # at most a stray temp file
    assert not report.corrupt
    ray_encoder = Encoder(cache_dir=root, engine=RayEngine(address=cluster, num_workers=2))
    vectors = ray_encoder.encode(texts)
    assert ray_encoder.engine.last_run["texts"] == N_TEXTS - n_before
    np.testing.assert_array_equal(vectors, reference)
    report = ray_encoder.cache.verify()
    assert report.ok and report.n_vectors == N_TEXTS
