"""Record a benchmark run: what it printed, the command, the date and the machine.

Every benchmark's ``__main__`` runs inside :func:`recorded`, which passes the printed output
through and, when the run ends without an error, writes ``results/benchmarks/<name>.json``.
``python scripts/make_results.py --collect results`` copies those records into
``docs/results/benchmarks/`` and rebuilds ``docs/results.md`` from them.
"""

from __future__ import annotations

import io
import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class _Tee(io.TextIOBase):
    def __init__(self, *streams) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


def cpu_model(cpuinfo: str | Path = "/proc/cpuinfo") -> str | None:
    """The CPU's ``model name`` from ``/proc/cpuinfo``; None where there is none (not Linux)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            return " ".join(value.split())
    return None


def machine(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The architecture, CPU model and core count, as the experiments' summaries give them:
    ``x86_64, AMD EPYC, 2 cores`` (``experiments/_common.py`` writes the same string)."""
    model = cpu_model(cpuinfo) or platform.processor() or "CPU model unknown"
    return f"{platform.machine()}, {model}, {os.cpu_count()} cores"


def build_record(name: str, argv: Sequence[str], output: str, runtime_s: float) -> dict:
    """The JSON record of one run of ``benchmarks/<name>.py`` with ``argv``."""
    return {
        "benchmark": name,
        "command": " ".join(["python", f"benchmarks/{name}.py", *map(shlex.quote, argv)]),
        "finished_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "machine": machine(),
        "load_average": round(os.getloadavg()[0], 1),
        "runtime_s": round(runtime_s, 1),
        "output": output,
    }


@contextmanager
def recorded(script: str, argv: Sequence[str] | None = None, out_dir: Path | None = None) -> Iterator[None]:
    """Run the body with stdout copied; on success write the record of ``script``'s run."""
    name = Path(script).stem
    argv = list(sys.argv[1:] if argv is None else argv)
    buffer = io.StringIO()
    stdout, started = sys.stdout, time.perf_counter()
    sys.stdout = _Tee(stdout, buffer)
    try:
        yield
    finally:
        sys.stdout = stdout
    record = build_record(name, argv, buffer.getvalue(), time.perf_counter() - started)
    out_dir = Path(out_dir) if out_dir is not None else ROOT / "results" / "benchmarks"
    out_dir.mkdir(parents=True, exist_ok=True)
    from embrm._core.files import atomic_write_text

    atomic_write_text(out_dir / f"{name}.json", json.dumps(record, indent=2) + "\n")
    print(f"\nrecorded in {out_dir / (name + '.json')}")
