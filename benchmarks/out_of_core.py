"""Heads fitted out of core: BTLinear and the logistic ClassifierHead on 10M pairs over vectors on disk.

Synthetic data shaped like within-prompt preference pairs: ``--prompts`` prompts with
``--responses`` answers each, 384-d unit vectors (a shared per-prompt part plus anisotropic
noise) stored as one float16 ``.npy`` on disk, ``--pairs`` pairs drawn within prompts and
labelled by a planted linear Bradley-Terry reward. Each head is fitted with
``fit_indexed`` straight from the memory-mapped file, and reported against the anchor: one
plain NumPy pass over the same memmap (``np.asarray(chunk, float64) @ u`` over every
chunk, the work of one pass of the solver, nothing else). Peak memory is the process's
anonymous resident memory (``RssAnon``, sampled every 10 ms): the arrays the fit allocates,
not the file's pages the kernel maps in and may drop at will (``VmHWM``, which counts
those too, is printed as well). The in-memory ``fit`` on the first ``--baseline-pairs``
pairs (materialised rows) is the baseline for time and memory and checks the weights.

    nice -n 10 python benchmarks/out_of_core.py --pairs 10000000

The vector file (``prompts * responses * 768`` bytes) goes to ``--workdir`` and is deleted
at the end; the script refuses to start without twice its size free.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from scipy.special import expit

from embrm.heads import BTLinear, ClassifierHead

CHUNK = 16384


class PeakMemory:
    """Peak ``RssAnon`` of this process while the block runs (sampled in a thread), in bytes."""

    def __enter__(self) -> PeakMemory:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM, the peak resident size
        self.base = self.peak = _status("RssAnon")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, _status("RssAnon"))

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _status("RssAnon"))
        self.hwm = _status("VmHWM")


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def write_vectors(
    path: Path, n_prompts: int, n_responses: int, dim: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Write the float16 vectors in prompt order; return the planted direction and each row's reward."""
    rng = np.random.default_rng(seed)
    n = n_prompts * n_responses
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(n, dim))
    spread = 1.0 / np.sqrt(np.arange(1, dim + 1))
    direction = rng.normal(size=dim) * spread
    direction /= np.linalg.norm(direction)
    reward = np.empty(n)
    per_chunk = max(1, CHUNK // n_responses)
    for p in range(0, n_prompts, per_chunk):
        k = min(per_chunk, n_prompts - p)
        prompt = np.repeat(rng.normal(size=(k, dim)) * spread, n_responses, axis=0)
        rows = prompt + 0.5 * rng.normal(size=(k * n_responses, dim)) * spread
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
        block = rows.astype(np.float16)
        X[p * n_responses : (p + k) * n_responses] = block
        reward[p * n_responses : (p + k) * n_responses] = block.astype(np.float64) @ direction
    X.flush()
    del X
    return direction, reward


def draw_pairs(reward: np.ndarray, n_responses: int, n_pairs: int, seed: int):
    """Pairs within prompts, the winner drawn by a Bradley-Terry model on the planted reward."""
    rng = np.random.default_rng(seed + 1)
    n_prompts = reward.size // n_responses
    prompt = rng.integers(0, n_prompts, n_pairs)
    a = prompt * n_responses + rng.integers(0, n_responses, n_pairs)
    b = prompt * n_responses + (a % n_responses + rng.integers(1, n_responses, n_pairs)) % n_responses
    margin = reward[a] - reward[b]
    a_wins = rng.random(n_pairs) < expit(8.0 * margin / margin.std())
    win = np.where(a_wins, a, b)
    lose = np.where(a_wins, b, a)
    return win, lose, prompt


def anchor_pass(X: np.ndarray, repeat: int = 3) -> float:
    """Seconds of one plain NumPy pass over the memmap (best of ``repeat``)."""
    u = np.ones(X.shape[1])
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for a in range(0, X.shape[0], CHUNK):
            np.asarray(X[a : a + CHUNK], dtype=np.float64) @ u
        best = min(best, time.perf_counter() - start)
    return best


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10_000_000)
    parser.add_argument("--prompts", type=int, default=50_000)
    parser.add_argument("--responses", type=int, default=20)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--baseline-pairs", type=int, default=200_000)
    parser.add_argument("--heads", default="bt,classifier", help="comma-separated: bt, classifier")
    parser.add_argument("--workdir", default=tempfile.gettempdir())
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    n_vectors = args.prompts * args.responses
    size = n_vectors * args.dim * 2
    free = shutil.disk_usage(args.workdir).free
    if free < 2 * size:
        raise SystemExit(f"{args.workdir} has {free / 2**30:.1f} GiB free; need {2 * size / 2**30:.1f} GiB.")
    folder = Path(tempfile.mkdtemp(prefix="embrm-out-of-core-", dir=args.workdir))
    try:
        path = folder / "vectors.npy"
        start = time.perf_counter()
        direction, reward = write_vectors(path, args.prompts, args.responses, args.dim, args.seed)
        win, lose, groups = draw_pairs(reward, args.responses, args.pairs, args.seed)
        del reward
        print(
            f"data: {args.pairs:,} pairs over {n_vectors:,} x {args.dim} float16 vectors "
            f"({size / 2**30:.2f} GiB on disk), written in {time.perf_counter() - start:.0f} s"
        )
        X = np.load(path, mmap_mode="r")
        anchor = anchor_pass(X)
        print(f"anchor: one NumPy pass over the memmap (chunks of {CHUNK:,} rows) {anchor:.2f} s\n")

        heads = {
            "bt": (BTLinear, {}, {}),
            "classifier": (ClassifierHead, {"random_state": 0}, {"groups": groups}),
        }
        print(
            "| fit | pairs | seconds | anchor passes' time | passes | L-BFGS iterations | "
            "peak RssAnon over start (MiB) | peak VmHWM (GiB) | cosine to planted | "
            "max coef gap, fit_indexed vs fit |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|", flush=True)

        def row(label, n, seconds, passes, iters, memory, cos, gap="-") -> None:
            print(
                f"| {label} | {n:,} | {seconds:.1f} | {seconds / anchor:.1f} | {passes} | {iters} | "
                f"{(memory.peak - memory.base) / 2**20:.0f} | {memory.hwm / 2**30:.2f} | {cos:.4f} | {gap} |",
                flush=True,
            )

        for name in args.heads.split(","):
            cls, params, extra = heads[name]
            with PeakMemory() as memory:
                start = time.perf_counter()
                head = cls(**params).fit_indexed(X, win, lose, chunk_size=CHUNK, **extra)
                seconds = time.perf_counter() - start
            label = f"{cls.__name__}.fit_indexed"
            row(
                label,
                args.pairs,
                seconds,
                head.n_passes_,
                head.n_iter_,
                memory,
                cosine(head.coef_, direction),
            )
            # Baseline: the in-memory fit on the first pairs, and fit_indexed on the same pairs.
            k = args.baseline_pairs
            sub = {key: value[:k] for key, value in extra.items()}
            with PeakMemory() as memory:
                start = time.perf_counter()
                X_win = np.asarray(X[np.sort(win[:k])], dtype=np.float32)[np.argsort(np.argsort(win[:k]))]
                X_lose = np.asarray(X[np.sort(lose[:k])], dtype=np.float32)[np.argsort(np.argsort(lose[:k]))]
                reference = cls(**params).fit(X_win, X_lose, **sub)
                seconds = time.perf_counter() - start
            del X_win, X_lose
            with PeakMemory() as small_memory:
                start = time.perf_counter()
                small = cls(**params).fit_indexed(X, win[:k], lose[:k], chunk_size=CHUNK, **sub)
                small_seconds = time.perf_counter() - start
            gap = np.abs(small.coef_ - reference.coef_).max() / np.abs(reference.coef_).max()
            cos = cosine(reference.coef_, direction)
            row(f"{cls.__name__}.fit (in memory)", k, seconds, "-", reference.n_iter_, memory, cos)
            row(label, k, small_seconds, small.n_passes_, small.n_iter_, small_memory, cos, f"{gap:.1e}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    from _record import recorded

    with recorded(__file__):
        main()
