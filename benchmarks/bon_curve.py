"""Benchmark: the exact Best-of-N curve against the Monte-Carlo estimate of the reference scripts.

The reference scripts estimate E[golden score of the pick among N] by drawing ~100 random
permutations per prompt and taking the reward argmax among the first N candidates. This
script times, on AlpacaEval (805 prompts x 51 answers; golden = judge preference in %,
reward = response length, a real reward with ties):

- ``embrm.evaluate.bon_curve``: exact, N = 1..51, one sort per prompt;
- ``monte_carlo_loop``: the reference scripts' loops (prompt, permutation, N);
- ``monte_carlo_vectorised``: the same estimate with numpy across permutations and N
  (with the same seed it draws the same permutations, so both estimates are identical);

and prints each one's time and its largest absolute difference from the exact curve.

    python benchmarks/bon_curve.py [--data-dir ../shared/data] [--permutations 100]

Without the data file it falls back to synthetic scores of the same shape (``--synthetic``).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import polars as pl

from embrm.evaluate import bon_curve


def load(data_dir: Path | None, synthetic: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    path = None if data_dir is None else data_dir / "alpacaeval_multimodel.parquet"
    if synthetic or path is None or not path.exists():
        rng = np.random.default_rng(0)
        groups = np.repeat(np.arange(805), 51)
        golden = rng.uniform(size=groups.size) * 100
        return golden + rng.normal(scale=30, size=groups.size), golden, groups, "synthetic"
    frame = pl.read_parquet(path, columns=["prompt_id", "response", "judge_pref"])
    reward = frame["response"].str.len_chars().cast(pl.Float64).to_numpy()
    golden = 100 * frame["judge_pref"].to_numpy()
    return reward, golden, frame["prompt_id"].to_numpy(), "alpacaeval, reward = length"


def split(reward, golden, groups):
    order = np.argsort(groups, kind="stable")
    bounds = np.flatnonzero(np.diff(groups[order])) + 1
    return np.split(reward[order], bounds), np.split(golden[order], bounds)


def monte_carlo_loop(reward, golden, groups, n_perm, rng):
    """One permutation at a time, one N at a time, as the reference scripts do."""
    rewards, goldens = split(reward, golden, groups)
    n_max = min(r.size for r in rewards)
    total = np.zeros(n_max)
    for r, g in zip(rewards, goldens, strict=True):
        for _ in range(n_perm):
            perm = rng.permutation(r.size)
            for n in range(1, n_max + 1):
                subset = perm[:n]
                total[n - 1] += g[subset[np.argmax(r[subset])]]
    return total / (len(rewards) * n_perm)


def monte_carlo_vectorised(reward, golden, groups, n_perm, rng):
    """All permutations and every N of a prompt at once (running argmax of prefixes)."""
    rewards, goldens = split(reward, golden, groups)
    n_max = min(r.size for r in rewards)
    total = np.zeros(n_max)
    for r, g in zip(rewards, goldens, strict=True):
        perms = rng.permuted(np.tile(np.arange(r.size), (n_perm, 1)), axis=1)[:, :n_max]
        rp = r[perms]
        # Position of the first maximum of each prefix: last strict record so far.
        record = rp > np.maximum.accumulate(np.c_[np.full(n_perm, -np.inf), rp[:, :-1]], axis=1)
        at = np.maximum.accumulate(np.where(record, np.arange(n_max), 0), axis=1)
        total += g[np.take_along_axis(perms, at, axis=1)].mean(axis=0)
    return total / len(rewards)


def timed(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return out, min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_dir = os.environ.get("EMBRM_DATA_DIR") or Path(__file__).parents[2] / "shared/data"
    parser.add_argument("--data-dir", type=Path, default=Path(default_dir))
    parser.add_argument("--synthetic", action="store_true")
    parser.add_argument("--permutations", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5, help="best of this many exact runs")
    args = parser.parse_args()

    reward, golden, groups, source = load(args.data_dir, args.synthetic)
    n_groups = np.unique(groups).size
    print(f"data: {source}; {n_groups} prompts, {reward.size} candidates; "
          f"{os.cpu_count()} CPUs, default BLAS threads")
    bon_curve(reward[:51], golden[:51], groups[:51])  # import and cache warm-up
    exact, t_exact = timed(lambda: bon_curve(reward, golden, groups)["bon"].to_numpy(),
                           args.repeat)
    with_ci, t_boot = timed(lambda: bon_curve(reward, golden, groups, n_bootstrap=1000), 1)
    rows = [("exact (embrm bon_curve)", t_exact, 0.0),
            ("exact + 1000 bootstrap intervals", t_boot,
             float(np.abs(with_ci["bon"].to_numpy() - exact).max()))]
    for name, fn in [("monte_carlo_loop", monte_carlo_loop),
                     ("monte_carlo_vectorised", monte_carlo_vectorised)]:
        rng = np.random.default_rng(0)
        estimate, seconds = timed(lambda fn=fn, rng=rng: fn(reward, golden, groups,
                                                           args.permutations, rng), 1)
        rows.append((f"{name} ({args.permutations} perm.)", seconds,
                     float(np.abs(estimate - exact).max())))
    print(f"N = 1..{exact.size}; golden in [{golden.min():.3g}, {golden.max():.3g}]")
    print(f"{'method':<36}{'seconds':>10}{'speed-up':>10}{'max |diff| vs exact':>22}")
    for name, seconds, diff in rows:
        print(f"{name:<36}{seconds:>10.4f}{seconds / t_exact:>9.0f}x{diff:>22.4g}")


if __name__ == "__main__":
    from _record import recorded

    with recorded(__file__):
        main()
