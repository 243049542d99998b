"""The micro-batcher alone, with a stand-in scorer: windows, caps, failures, cancelled requests."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from embrm.serve import MicroBatcher


class Scorer:
    """Reward = answer length; records each call's size and thread; fails on "boom"."""

    def __init__(self, delay: float = 0.0):
        self.calls: list[int] = []
        self.threads: set[str] = set()
        self.delay = delay

    def __call__(self, prompts, answers):
        self.calls.append(len(answers))
        self.threads.add(threading.current_thread().name)
        if "boom" in answers:
            raise ValueError("boom")
        if self.delay:
            import time

            time.sleep(self.delay)
        return {"reward": np.array([len(a) for a in answers], dtype=float)}


def test_requests_within_the_window_share_one_call_in_a_worker_thread():
    scorer = Scorer()
    batcher = MicroBatcher(scorer, max_wait_ms=100)

    async def run():
        return await asyncio.gather(*(batcher.submit(["p"] * k, ["x" * k] * k) for k in (1, 2, 3)))

    results = asyncio.run(run())
    assert [r["reward"].tolist() for r in results] == [[1.0], [2.0, 2.0], [3.0, 3.0, 3.0]]
    assert scorer.calls == [6] and batcher.n_batches == 1 and batcher.n_requests == 3
    assert scorer.threads == {"embrm-score_0"}
    batcher.close()


def test_the_cap_holds_a_request_over_for_the_next_batch_and_a_big_one_goes_alone():
    scorer = Scorer()
    batcher = MicroBatcher(scorer, max_batch=4, max_wait_ms=100)

    async def run():
        sizes = (3, 3, 6, 1)
        return await asyncio.gather(*(batcher.submit(["p"] * k, ["a"] * k) for k in sizes))

    results = asyncio.run(run())
    assert [len(r["reward"]) for r in results] == [3, 3, 6, 1]
    assert scorer.calls == [3, 3, 6, 1]  # 3+3 > 4; 6 alone; the 1 waits behind the 6 it followed
    batcher.close()


def test_a_failing_request_fails_alone():
    scorer = Scorer()
    batcher = MicroBatcher(scorer, max_wait_ms=100)

    async def run():
        jobs = [
            batcher.submit(["p"], ["ok"]),
            batcher.submit(["p"], ["boom"]),
            batcher.submit(["p"], ["fine"]),
        ]
        return await asyncio.gather(*jobs, return_exceptions=True)

    good, bad, other = asyncio.run(run())
    assert isinstance(bad, ValueError)
    assert good["reward"].tolist() == [2.0] and other["reward"].tolist() == [4.0]
    assert scorer.calls == [3, 1, 1, 1]
    batcher.close()


def test_a_cancelled_request_is_dropped_and_the_others_are_answered():
    scorer = Scorer(delay=0.2)
    batcher = MicroBatcher(scorer, max_wait_ms=0)

    async def run():
        first = asyncio.ensure_future(batcher.submit(["p"], ["first"]))
        await asyncio.sleep(0.05)  # the first is being scored
        gone = asyncio.ensure_future(batcher.submit(["p"], ["gone"]))
        kept = asyncio.ensure_future(batcher.submit(["p"], ["kept"]))
        await asyncio.sleep(0)
        gone.cancel()  # its client went away while it waited
        return await first, await kept, gone.cancelled()

    first, kept, cancelled = asyncio.run(run())
    assert cancelled and first["reward"].tolist() == [5.0] and kept["reward"].tolist() == [4.0]
    assert scorer.calls == [1, 1]  # "gone" was never scored
    batcher.close()


def test_a_new_event_loop_gets_a_new_batching_task():
    batcher = MicroBatcher(Scorer())
    for _ in range(2):  # each asyncio.run is a new loop (as a test client may make)
        assert asyncio.run(batcher.submit(["p"], ["ab"]))["reward"].tolist() == [2.0]
    batcher.close()


@pytest.mark.parametrize("bad", [{"max_batch": 0}, {"max_wait_ms": -1.0}, {"max_wait_ms": float("nan")}])
def test_bad_options_are_refused(bad):
    with pytest.raises(ValueError):
        MicroBatcher(Scorer(), **bad)
