"""Ray on one machine: `embrm embed --engine ray` against the in-process engine, same texts.

Runs the commands of ``docs/scaling.md`` ("Ray on this machine") as a user would, each a
fresh process with its own scratch cache (``--cache-dir`` in a temporary folder; the
exported model comes from the machine's model store, so no run pays for an export):

1. ``embrm embed hh-harmless --limit N --model minilm`` (in process);
2. the same with ``--engine ray --workers W`` (a local Ray instance started and stopped by
   the command);
3. the Ray command again: every vector is cached, so no cluster starts.

Each row is the command's own report line and the wall time of the whole process (Python
and Ray start-up included). Then both caches are read back in process and compared
(``np.array_equal`` over every text).

    python benchmarks/ray_embed.py --limit 100 --workers 2
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _embed(cache: Path, limit: int, extra: list[str]) -> tuple[str, float]:
    argv = ["embrm", "embed", "hh-harmless", "--limit", str(limit), "--model", "minilm", *extra]
    code = "import sys; from embrm.cli import main; sys.exit(main(sys.argv[1:]))"
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, *argv[1:], "--cache-dir", str(cache)],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    report = [line for line in done.stdout.splitlines() if line.startswith("hh-harmless:")]
    return report[-1] if report else done.stdout.strip().splitlines()[-1], seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=100, help="hh-harmless pairs (2 texts each)")
    parser.add_argument("--workers", type=int, default=2, help="Ray actors")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="embrm-ray-bench-") as tmp:
        local, ray = Path(tmp) / "local", Path(tmp) / "ray"
        ray_flags = ["--engine", "ray", "--workers", str(args.workers)]
        runs = [
            ("in process", local, []),
            (f"Ray, {args.workers} workers", ray, ray_flags),
            (f"Ray, {args.workers} workers, again (all cached)", ray, ray_flags),
        ]
        print("\n| engine | command's report | process wall s |\n|---|---|---|")
        for label, cache, extra in runs:
            report, seconds = _embed(cache, args.limit, extra)
            print(f"| {label} | {report.removeprefix('hh-harmless: ')} | {seconds:.1f} |", flush=True)

        from embrm import Encoder, load_dataset

        data = load_dataset("hh-harmless")
        data = data.take(range(min(args.limit, len(data))))
        a = data.embed(Encoder("minilm", cache_dir=local, show_progress=False))
        b = data.embed(Encoder("minilm", cache_dir=ray, show_progress=False))
        same = all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
        print(f"\nvectors identical in the two caches (np.array_equal, both sides of every pair): {same}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    if not same:
        raise SystemExit("the Ray engine's vectors differ from the in-process engine's")


if __name__ == "__main__":
    from _record import recorded

    with recorded(__file__):
        main()
