"""Reading cached vectors: embrm's VectorCache against two baselines, in one run.

100k random 384-d vectors are written through ``VectorCache.put`` in chunks of 1,024 (as an
embed job writes them), then all 100k are read back by key in random order, cold (a new
cache object: manifest read and every shard checksummed) and warm. Baselines: the same
vectors as one Parquet file (key + list column) joined on the keys, and one float16 ``.npy``
read whole (the floor: no keys, no checks).

    python benchmarks/cache_read.py --n 100000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from embrm.embed import VectorCache, text_keys


def _timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(args.n, args.dim)).astype(np.float32)
    keys = text_keys([f"text {i}" for i in range(args.n)], "raw")
    query = [keys[i] for i in rng.permutation(args.n)]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cache = VectorCache(root, "bench")
        start = time.perf_counter()
        for s in range(0, args.n, 1024):
            cache.put(keys[s : s + 1024], vectors[s : s + 1024])
        write_s = time.perf_counter() - start
        cold_s = _timed(lambda: VectorCache(root, "bench").get(query))
        warm_s = _timed(lambda: cache.get(query))
        found, got = cache.get(query)
        assert found.all()
        parquet = root / "vectors.parquet"
        pl.DataFrame({"key": keys, "vector": vectors.astype(np.float16).tolist()}).write_parquet(parquet)

        def parquet_read():
            table = pl.DataFrame({"key": query}).join(pl.read_parquet(parquet), on="key", how="left")
            return np.asarray(table["vector"].to_list(), dtype=np.float32)

        parquet_s = _timed(parquet_read, repeat=1)
        npy = root / "all.npy"
        np.save(npy, vectors.astype(np.float16))
        npy_s = _timed(lambda: np.load(npy).astype(np.float32))
    print(f"\n{args.n} vectors of dim {args.dim}, float16 on disk, read by key in random order\n")
    print("| path | seconds | vs VectorCache cold |")
    print("|---|---|---|")
    for name, s in [
        ("VectorCache.get, cold (manifest + checksums)", cold_s),
        ("VectorCache.get, warm", warm_s),
        ("baseline: Parquet file, polars join on keys", parquet_s),
        ("floor: one .npy read whole (no keys, no checks)", npy_s),
    ]:
        print(f"| {name} | {s:.3f} | {s / cold_s:.2f}x |")
    print(f"\nwriting them in {args.n // 1024 + 1} chunks through VectorCache.put: {write_s:.1f} s")
    print("Target: cold read of 100k cached vectors well under 1 s.")


if __name__ == "__main__":
    from _record import recorded

    with recorded(__file__):
        main()
