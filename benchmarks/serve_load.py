"""The reward service under load: `embrm serve` driven by closed-loop clients vs in-process scoring.

A BTLinear head is fitted on the static representation (400 HH-harmless pairs), saved, and
served by ``embrm serve`` (uvicorn, one worker, 127.0.0.1, a scratch cache so every answer is
new to it, as RL samples are). Closed-loop clients (concurrency 1, 8 and 64; each sends its
next request when the last is answered) post requests of 16 AlpacaEval answers of about 200
tokens (700-900 characters) to ``/v1/rewards`` for ``--duration`` seconds per level. In the
same run the same requests are scored in-process (``head.reward(encoder.encode_responses(...))``
on an encoder that stores nothing), one request at a time. Printed: throughput (answers/s) and
its ratio to in-process, p50/p95/p99 latency, errors, and the service's resident memory
(first sample after warm-up, last, peak, growth).

    python benchmarks/serve_load.py --duration 300

Goals (issue 25, the static representation on this 2-core machine): at concurrency >= 8 the
service's throughput is at least 80% of in-process scoring; zero errors; memory flat (under
10% growth after warm-up). The clients share the machine's cores with the service.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ANSWERS_PER_REQUEST = 16
WARM_UP_S = 5.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children (uvicorn workers) in MB (Linux /proc)."""
    total = 0.0
    for p in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except FileNotFoundError:
            pass
    return total


def _children(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return []
    return [int(c) for c in found] + [g for c in found for g in _children(int(c))]


def _requests(data_dir: str | None, n_requests: int) -> list[dict]:
    """Requests of 16 (prompt, answer) rows: AlpacaEval answers of 700-900 characters."""
    from embrm import load_dataset

    frame = load_dataset("alpacaeval", data_dir).frame
    chars = frame["response"].str.len_chars()
    frame = frame.filter((chars >= 700) & (chars <= 900))
    prompts, answers = frame["prompt"].to_list(), frame["response"].to_list()
    n = min(n_requests, len(answers) // ANSWERS_PER_REQUEST)
    return [
        {
            "prompts": prompts[i * ANSWERS_PER_REQUEST : (i + 1) * ANSWERS_PER_REQUEST],
            "answers": answers[i * ANSWERS_PER_REQUEST : (i + 1) * ANSWERS_PER_REQUEST],
        }
        for i in range(n)
    ]


def _head(data_dir: str | None, cache: Path, out: Path) -> None:
    from embrm import Encoder, load_dataset
    from embrm.heads import BTLinear

    pairs = load_dataset("hh-harmless", data_dir).take(np.arange(400))
    X_win, X_lose = pairs.embed(Encoder("static", cache_dir=cache, show_progress=False))
    BTLinear().fit(X_win, X_lose).save(out)


def _in_process(head_path: Path, cache: Path, requests: list[dict], seconds: float) -> float:
    """Answers/s scoring the requests one at a time in this process (nothing stored)."""
    from embrm import Encoder
    from embrm.heads import load

    encoder = Encoder("static", cache_dir=cache, show_progress=False, write_cache=False)
    head = load(head_path, expected_encoder_id=encoder.identity)
    head.reward(encoder.encode_responses(["warm-up"], ["warm-up"]))
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        body = requests[done // ANSWERS_PER_REQUEST % len(requests)]
        head.reward(encoder.encode_responses(body["prompts"], body["answers"]))
        done += ANSWERS_PER_REQUEST
    return done / (time.perf_counter() - start)


async def _drive(url: str, requests: list[dict], concurrency: int, seconds: float, pid: int) -> dict:
    """Closed-loop clients for ``seconds``: latencies, errors and the server's memory.

    The clients use aiohttp (installed with Ray Serve) and send bodies encoded once up front, so
    the client's own work on the shared cores stays small beside the service's.
    """
    import json

    import aiohttp

    bodies = [json.dumps(body).encode() for body in requests]
    headers = {"content-type": "application/json"}
    latencies: list[float] = []
    errors = 0
    rss: list[tuple[float, float]] = []
    start = time.perf_counter()
    stop_at = start + seconds

    async def client(k: int, http: aiohttp.ClientSession) -> None:
        nonlocal errors
        i = k
        while time.perf_counter() < stop_at:
            body = bodies[i % len(bodies)]
            i += concurrency
            sent = time.perf_counter()
            try:
                async with http.post(url, data=body, headers=headers) as response:
                    payload = await response.read()
                ok = response.status == 200 and len(json.loads(payload)["rewards"]) == ANSWERS_PER_REQUEST
            except Exception:
                ok = False
            latencies.append(time.perf_counter() - sent)
            errors += not ok

    async def sample() -> None:
        while time.perf_counter() < stop_at:
            rss.append((time.perf_counter() - start, _rss_mb(pid)))
            await asyncio.sleep(1.0)

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        await asyncio.gather(sample(), *(client(k, http) for k in range(concurrency)))
    elapsed = time.perf_counter() - start
    return {"latencies": np.array(latencies), "errors": errors, "elapsed": elapsed, "rss": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of load per concurrency level")
    parser.add_argument("--data-dir", default=os.environ.get("EMBRM_DATA_DIR"))
    parser.add_argument("--requests", type=int, default=400, help="distinct requests cycled through")
    parser.add_argument("--max-wait-ms", type=float, default=2.0, help="the service's batch window")
    parser.add_argument("--workers", type=int, default=1, help="the service's uvicorn workers")
    parser.add_argument("--levels", default="1,8,64", help="client concurrency levels, comma-separated")
    parser.add_argument("--record-dir", help="where the run's record goes (default results/benchmarks)")
    args = parser.parse_args()

    from embrm import Encoder

    static = Encoder("static", show_progress=False)
    static.static_model  # noqa: B018 - distil once per machine
    work = Path(tempfile.mkdtemp(prefix="embrm-serve-load-"))
    head_cache, serve_cache = work / "head-cache", work / "serve-cache"
    for cache in (head_cache, serve_cache):
        shutil.copytree(static.model_dir, cache / "models" / static.model_dir.name)
    head_path = work / "head.npz"
    _head(args.data_dir, head_cache, head_path)
    requests = _requests(args.data_dir, args.requests)
    n_chars = np.mean([len(a) for r in requests for a in r["answers"]])
    print(
        f"{len(requests)} distinct requests of {ANSWERS_PER_REQUEST} AlpacaEval answers "
        f"(mean {n_chars:.0f} characters), static representation, BTLinear head; "
        f"{args.duration:.0f} s per level; {args.workers} uvicorn worker(s); {os.cpu_count()} cores "
        "shared by clients and service"
    )

    in_process = _in_process(head_path, serve_cache, requests, min(args.duration, 30.0))
    print(f"in-process scoring, one request at a time: {in_process:.0f} answers/s\n")

    port = _free_port()
    command = [sys.executable, "-m", "embrm.cli", "serve", str(head_path), "--cache-dir", str(serve_cache)]
    command += ["--port", str(port), "--max-wait-ms", str(args.max_wait_ms), "--workers", str(args.workers)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = open(work / "serve.log", "wb")  # noqa: SIM115 - closed after the server stops
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        import httpx

        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"embrm serve did not start:\n{(work / 'serve.log').read_text()}")
            time.sleep(0.2)
        url = f"http://127.0.0.1:{port}/v1/rewards"
        print(
            "| concurrency | answers/s | vs in-process | p50 ms | p95 ms | p99 ms | requests | errors "
            "| RSS MB after warm-up | RSS MB last | RSS MB peak | growth |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for concurrency in [int(level) for level in args.levels.split(",")]:
            run = asyncio.run(_drive(url, requests, concurrency, args.duration, server.pid))
            lat = run["latencies"] * 1000
            throughput = len(lat) * ANSWERS_PER_REQUEST / run["elapsed"]
            samples = [mb for t, mb in run["rss"] if t >= WARM_UP_S] or [mb for _, mb in run["rss"]]
            first, last, peak = samples[0], samples[-1], max(samples)
            p50, p95, p99 = np.percentile(lat, [50, 95, 99])
            print(
                f"| {concurrency} | {throughput:.0f} | {throughput / in_process:.2f} | {p50:.1f} | "
                f"{p95:.1f} | {p99:.1f} | {len(lat)} | {run['errors']} | {first:.0f} | {last:.0f} | "
                f"{peak:.0f} | {(peak - first) / first:+.1%} |"
            )
        info = httpx.get(f"http://127.0.0.1:{port}/info").json()["stats"]
        print(
            f"\nservice counters: {info['requests']} requests, {info['answers']} answers in "
            f"{info['batches']} batches ({info['answers'] / max(info['batches'], 1):.1f} answers per "
            "encoder call)"
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
        log.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _record import recorded

    record_dir = None
    if "--record-dir" in sys.argv:
        record_dir = Path(sys.argv[sys.argv.index("--record-dir") + 1])
    with recorded(__file__, out_dir=record_dir):
        main()
