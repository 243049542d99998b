"""Choosing 100 pairs from 1,000,000 candidates: embrm's greedy D-optimal against the
reference's per-candidate method, in one run.

The pool: differences of random pairs among 50,000 synthetic 384-d unit vectors with a
decaying spectrum (like sentence embeddings), float32; a second pool of isotropic Gaussian
differences (every candidate's gain nearly equal: the hardest case for the shortlist).
Rows:

- ``DOptimal`` on the 1M pool: cold start (no head, no labels), and with a fitted
  ``BTLinear`` head and 1,000 labelled pairs (one full O(M d^2) pass for the gains);
- the same greedy downdating every candidate after every pick (the plain O(M d)-per-pick
  loop) on a 200k pool, to show the shortlist picks the same pairs;
- ``PoolLeverage`` (the reference's one-shot rule computed in chunks) on the 1M pool;
- the reference's per-candidate method (``dopt_rule`` of YunyiShen/ARM-FI,
  ``model/rules_pre_paired.py``: an (N, d, d) tensor of outer products, ``logdet`` and its
  gradient by autograd, top-B) on a smaller pool, in PyTorch when installed (NumPy
  otherwise), timed per candidate and reported as a ratio to embrm's time per candidate.

Peak memory is traced for the NumPy parts (tracemalloc) beyond the pool itself; the
reference's tensor size is N d^2 floats.

    python benchmarks/active_select.py
    python benchmarks/active_select.py --n-candidates 200000 --reference-size 500   # smaller
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc

import numpy as np

from embrm.active import DOptimal, PoolLeverage
from embrm.heads import BTLinear

#: Rows of the difference matrix built at a time (bounds the temporary copies).
CHUNK = 32768


def log_det_information(D: np.ndarray, prior_strength: float = 1.0) -> float:
    """``log det(prior_strength * I + D^T D / 4)``: the D-optimality criterion of the picked
    pairs under the uniform prior (outcome variance 1/4), computed here directly so that the
    benchmark checks the library's picks against its own arithmetic."""
    information = prior_strength * np.eye(D.shape[1]) + 0.25 * D.T @ D
    return float(np.linalg.slogdet(information)[1])


def sherman_morrison(A_inv: np.ndarray, d: np.ndarray, v: float) -> tuple[np.ndarray, float]:
    """Update ``A_inv`` in place to ``(A + v d d^T)^{-1}``; return ``A^{-1} d`` and the update's
    scale ``v / (1 + v d^T A^{-1} d)`` (the reference rule's own rank-one step)."""
    u = A_inv @ d.astype(np.float64)
    c = v / (1.0 + v * float(d @ u))
    A_inv -= c * np.outer(u, u)
    return u, c


def embedding_like_pool(n_candidates: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Differences of random pairs of unit vectors with a 1/k spectrum; also the vectors."""
    rng = np.random.default_rng(seed)
    n = 50_000
    X = rng.standard_normal((n, dim), dtype=np.float32) / np.sqrt(np.arange(1, dim + 1, dtype=np.float32))
    X += 0.5 * rng.standard_normal(dim).astype(np.float32) / np.sqrt(dim)  # a shared mean direction
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    a = rng.integers(0, n, n_candidates)
    b = (a + rng.integers(1, n, n_candidates)) % n
    D = np.empty((n_candidates, dim), dtype=np.float32)
    for s in range(0, n_candidates, CHUNK):
        np.subtract(X[a[s : s + CHUNK]], X[b[s : s + CHUNK]], out=D[s : s + CHUNK])
    return D, X


def timed(fn):
    tracemalloc.start()
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, seconds, peak


def reference_dopt(D: np.ndarray, v: np.ndarray, k: int) -> np.ndarray:
    """The reference's per-candidate rule: gradient of logdet(sum_i w_i v_i d_i d_i^T + 1e-6 I)
    with respect to w at w = 1, through an (N, d, d) tensor, top-k."""
    try:
        import torch
    except ImportError:
        outer = D[:, None, :] * D[:, :, None] * v[:, None, None]  # (N, d, d)
        M = outer.sum(axis=0) + 1e-6 * np.eye(D.shape[1], dtype=D.dtype)
        grad = np.einsum("nij,ji->n", outer, np.linalg.inv(M))
        return np.argsort(-grad)[:k]
    torch.set_num_threads(1)
    x = torch.from_numpy(D)
    var = torch.from_numpy(v.astype(np.float32))
    weights = torch.ones_like(var, requires_grad=True)
    XtX = (x[:, None, :] * x[:, :, None] * var[:, None, None] * weights[:, None, None]).sum(dim=0)
    XtX = XtX + 1e-6 * torch.eye(D.shape[1])
    grad = torch.autograd.grad(torch.logdet(XtX), weights)[0]
    return torch.topk(grad, k).indices.numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-candidates", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--reference-size", type=int, default=1000)
    parser.add_argument("--full-downdate-size", type=int, default=200_000)
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; BLAS 1 thread")
    D, X = embedding_like_pool(args.n_candidates, args.dim, 0)
    rows = []

    def row(name, pool_size, seconds, peak, picks, D_used):
        rows.append(
            (
                name,
                pool_size,
                seconds,
                seconds / pool_size * 1e6,
                peak / 1e6,
                log_det_information(D_used[picks].astype(np.float64)),
            )
        )

    picks, s, peak = timed(lambda: DOptimal(random_state=0).select(D, batch_size=args.batch))
    row("DOptimal, cold start", len(D), s, peak, picks, D)
    ours_per_candidate = s / len(D)

    rng = np.random.default_rng(1)
    lab = rng.choice(len(D), 1000, replace=False)
    w_true = rng.standard_normal(args.dim).astype(np.float32)
    labelled = D[lab] * np.sign(D[lab] @ w_true)[:, None]
    head = BTLinear().fit(labelled, np.zeros_like(labelled))
    picks, s, peak = timed(
        lambda: DOptimal(random_state=0).select(D, labelled=labelled, head=head, batch_size=args.batch)
    )
    row("DOptimal, head + 1,000 labelled", len(D), s, peak, picks, D)

    picks, s, peak = timed(lambda: PoolLeverage(random_state=0).select(D, batch_size=args.batch))
    row("PoolLeverage (one shot, chunked)", len(D), s, peak, picks, D)

    small = D[: args.full_downdate_size]
    short_picks, s, peak = timed(lambda: DOptimal(random_state=0).select(small, batch_size=args.batch))
    row("DOptimal (shortlist)", len(small), s, peak, short_picks, small)

    def every_candidate():
        prior = DOptimal().prior_strength
        v = np.full(len(small), 0.25)
        gain = v * np.einsum("ij,ij->i", small, small).astype(np.float64) / prior
        gain *= 1.0 + 1e-12 * np.random.RandomState(0).uniform(size=len(gain))
        A_inv = np.eye(args.dim) / prior
        proj = np.empty(len(small), dtype=np.float32)
        chosen = []
        with threadpool_limits(1):
            for _ in range(args.batch):
                i = int(np.argmax(gain))
                chosen.append(i)
                u, c = sherman_morrison(A_inv, small[i], v[i])
                np.matmul(small, u.astype(np.float32), out=proj)
                gain -= (c * v) * np.square(proj, dtype=np.float64)
                gain[i] = -np.inf
        return np.array(chosen)

    full_picks, s, peak = timed(every_candidate)
    row("greedy, downdate every candidate", len(small), s, peak, full_picks, small)
    same = sorted(full_picks.tolist()) == sorted(short_picks.tolist())

    iso = np.random.default_rng(2).standard_normal((args.full_downdate_size, args.dim), dtype=np.float32)
    picks, s, peak = timed(lambda: DOptimal(random_state=0).select(iso, batch_size=args.batch))
    row("DOptimal, isotropic Gaussian pool", len(iso), s, peak, picks, iso)

    ref_pool = D[: args.reference_size]
    v = np.full(len(ref_pool), 0.25, dtype=np.float32)
    reference_dopt(ref_pool[: args.dim + 10], v[: args.dim + 10], 1)  # import and warm up outside the clock
    with threadpool_limits(1):
        start = time.perf_counter()
        ref_picks = reference_dopt(ref_pool, v, args.batch)
        ref_s = time.perf_counter() - start
    tensor_mb = len(ref_pool) * args.dim**2 * 4 / 1e6
    rows.append(
        (
            "reference per-candidate rule",
            len(ref_pool),
            ref_s,
            ref_s / len(ref_pool) * 1e6,
            tensor_mb,
            log_det_information(ref_pool[ref_picks].astype(np.float64)),
        )
    )
    ours_small = DOptimal(random_state=0).select(ref_pool, batch_size=args.batch)
    lev_small = PoolLeverage(random_state=0).select(ref_pool, batch_size=args.batch)

    print(f"\n{'method':<36} {'pool':>9} {'seconds':>8} {'us/cand':>8} {'peak MB':>8} {'logdet':>8}")
    for name, n, sec, per, mb, ld in rows:
        print(f"{name:<36} {n:>9,} {sec:>8.2f} {per:>8.2f} {mb:>8.0f} {ld:>8.1f}")
    print(
        f"\npool itself: {D.nbytes / 1e6:.0f} MB ({len(D):,} x {args.dim} float32); peak MB is "
        "traced NumPy memory beyond it (the reference row: its (N, d, d) tensor alone)"
    )
    print(
        f"reference time per candidate / DOptimal's (1M pool, cold start): "
        f"{ref_s / len(ref_pool) / ours_per_candidate:.0f}x"
    )
    print(f"shortlist picks == every-candidate downdate picks: {same}")
    print(
        f"on the reference's {len(ref_pool):,}-candidate pool: logdet of DOptimal's batch "
        f"{log_det_information(ref_pool[ours_small].astype(np.float64)):.1f}, reference rule "
        f"{log_det_information(ref_pool[ref_picks].astype(np.float64)):.1f}, PoolLeverage "
        f"{log_det_information(ref_pool[lev_small].astype(np.float64)):.1f} (same picks as the "
        f"reference: {sorted(lev_small.tolist()) == sorted(ref_picks.tolist())})"
    )
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    from _record import recorded

    with recorded(__file__):
        main()
