"""The labelling page's "Next batch" on a pool of 100,000 candidate pairs: one request that
merges the round's votes, refits the head on the labels so far, runs the strategy over the
whole pool and appends the batch to the round's query file.

The pool: 2,000 synthetic prompts with 11 answers each, 50 pairs per prompt (100,000 pairs),
answers embedded as random unit vectors of the static representation's dimension (256),
float32; the round holds ``--labels`` labelled pairs (one annotator, a planted reward
direction decides each label). Each row is the median wall time of ``--repeats`` requests
through the app (Starlette's TestClient, in process), BLAS on one thread.

    python benchmarks/annotate_next_batch.py
    python benchmarks/annotate_next_batch.py --labels 200 2000 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import recorded  # noqa: E402

from embrm.active import default_strategy, select_queries, within_prompt_pool, write_queries  # noqa: E402
from embrm.annotate import AnnotationRound, NextBatch, create_annotate_app  # noqa: E402

STATIC_DIM = 256


def synthetic_pool(n_prompts: int, answers: int, pairs_per_prompt: int, dim: int, seed: int):
    """A within-prompt pool over synthetic texts and random unit vectors for its answers."""
    rng = np.random.default_rng(seed)
    frame = pl.DataFrame(
        {
            "prompt_id": np.repeat(np.arange(n_prompts), answers),
            "prompt": [f"prompt {i}" for i in range(n_prompts) for _ in range(answers)],
            "response": [f"answer {i}.{j}" for i in range(n_prompts) for j in range(answers)],
        }
    )
    pool = within_prompt_pool(frame, pairs_per_prompt, random_state=seed)
    X = rng.standard_normal((frame.height, dim), dtype=np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return pool, X


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=2_000)
    parser.add_argument("--labels", type=int, nargs="+", default=[200, 2_000])
    parser.add_argument(
        "--strategies",
        nargs="+",
        default=["default", "dopt", "vopt", "uncertainty", "random"],
        help="'default' is embrm select's default strategy (embrm.active.default_strategy())",
    )
    parser.add_argument("--budget", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from starlette.testclient import TestClient
    from threadpoolctl import threadpool_limits

    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; BLAS 1 thread")
    started = time.perf_counter()
    pool, X = synthetic_pool(args.prompts, 11, 50, STATIC_DIM, 0)
    print(f"pool: {len(pool):,} pairs over {pool.n_responses:,} answers, d = {STATIC_DIM} "
          f"(built in {time.perf_counter() - started:.1f} s)")  # fmt: skip
    w = np.random.default_rng(1).standard_normal(STATIC_DIM)
    print()
    print("| strategy | labelled pairs | next batch (s, median) | slowest (s) |")
    print("|---|---:|---:|---:|")
    with threadpool_limits(1), tempfile.TemporaryDirectory() as tmp:
        for n_labels in args.labels:
            for strategy in args.strategies:
                folder = Path(tmp) / f"{strategy}-{n_labels}"
                folder.mkdir()
                queries = select_queries(pool, X, n_labels, strategy="random", random_state=2)
                round_ = AnnotationRound(write_queries(queries, folder / "queries.csv"))
                margin = (X[pool.index_a] - X[pool.index_b]) @ w
                rows = pool.positions(queries["pair_id"].to_numpy())
                for pair_id, m in zip(queries["pair_id"], margin[rows], strict=True):
                    round_.log.append("bench", pair_id, "a" if m > 0 else "b")
                chosen = default_strategy() if strategy == "default" else strategy
                app = create_annotate_app(round_, next_batch=NextBatch(pool, X, chosen, args.budget))
                client = TestClient(app, base_url="http://127.0.0.1")
                times = []
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    response = client.post("/api/next-batch", json={"annotator": "bench"})
                    times.append(time.perf_counter() - start)
                    assert response.status_code == 200 and response.json()["added"] == args.budget, (
                        response.text
                    )
                print(f"| {strategy} | {n_labels:,} | {statistics.median(times):.2f} | {max(times):.2f} |")


if __name__ == "__main__":
    with recorded(__file__):
        main()
