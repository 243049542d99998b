"""The reward service's fixtures: the static encoder on a scratch cache, small heads fitted on
real pairs, and a real ``embrm serve`` subprocess on a free loopback port.

A plugin the test modules load with ``pytest_plugins`` (a second ``conftest.py`` beside
``tests/policy/conftest.py`` would clash under pytest's default import mode)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from _serving import Server, free_port, static_encoder, wait_healthy

REPO = Path(__file__).resolve().parents[2]
N_PAIRS = 60


@pytest.fixture(scope="session")
def static_model_dir() -> Path:
    """The machine's distilled static model (distilled once per machine)."""
    from embrm import Encoder

    static = Encoder("static", show_progress=False)
    static.static_model  # noqa: B018 - distil once per machine, into the shared cache
    return static.model_dir


@pytest.fixture(scope="session")
def serve_cache(tmp_path_factory, static_model_dir) -> Path:
    """A scratch cache holding the static model and the vectors of the training pairs only."""
    root = tmp_path_factory.mktemp("serve-cache")
    shutil.copytree(static_model_dir, root / "models" / static_model_dir.name)
    return root


@pytest.fixture(scope="session")
def pairs(data_dir, serve_cache):
    """The first 60 hh-harmless pairs, and their static vectors (written to the scratch cache)."""
    from embrm import load_dataset

    data = load_dataset("hh-harmless", data_dir).take(np.arange(N_PAIRS))
    X_win, X_lose = data.embed(static_encoder(serve_cache, write_cache=True))
    return data, X_win, X_lose


@pytest.fixture(scope="session")
def bt_head(pairs):
    from embrm.heads import BTLinear

    _, X_win, X_lose = pairs
    return BTLinear().fit(X_win, X_lose)


@pytest.fixture(scope="session")
def ensemble_head(pairs):
    from embrm.heads import BTLinear, Ensemble

    _, X_win, X_lose = pairs
    return Ensemble(BTLinear(), n_members=3, random_state=0).fit(X_win, X_lose)


@pytest.fixture(scope="session")
def head_files(tmp_path_factory, bt_head, ensemble_head) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("heads")
    files = {"bt": root / "bt.npz", "ensemble": root / "ensemble.npz"}
    bt_head.save(files["bt"])
    ensemble_head.save(files["ensemble"])
    return files


@pytest.fixture(scope="session")
def texts(data_dir) -> tuple[list[str], list[str]]:
    """60 real (prompt, answer) rows from AlpacaEval that the scratch cache does not hold."""
    import polars as pl

    frame = pl.read_parquet(data_dir / "alpacaeval_multimodel.parquet", columns=["prompt", "response"])
    frame = frame.slice(1000, 60)
    return frame["prompt"].to_list(), frame["response"].to_list()


@pytest.fixture
def start_server(tmp_path, serve_cache) -> Iterator[Callable[..., Server]]:
    """Start ``embrm serve HEAD ...`` as a subprocess (127.0.0.1 unless told), waiting until it
    is healthy; every server still running at the end is killed."""
    started: list[Server] = []

    def start(head: Path, *args: str, port: int | None = None, env: dict | None = None, wait: bool = True):
        port = port or free_port()
        log = tmp_path / f"serve-{port}-{len(started)}.log"
        command = [sys.executable, "-m", "embrm.cli", "serve", str(head), "--cache-dir", str(serve_cache)]
        command += ["--port", str(port), *args]
        environment = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
        with open(log, "wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=environment)
        host = args[args.index("--host") + 1] if "--host" in args else "127.0.0.1"
        server = Server(process, port, host, log)
        started.append(server)
        if wait:
            wait_healthy(server)
        return server

    yield start
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait(10)
