"""Micro-batching: the answers of concurrent requests scored in one encoder call."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

#: What a batch scorer returns: named arrays with one row per answer (e.g. ``"reward"``).
Scores = Mapping[str, np.ndarray]


@dataclass
class _Job:
    prompts: list[str]
    answers: list[str]
    future: asyncio.Future = field(repr=False)


class MicroBatcher:
    """Gather concurrent requests' answers and score them together in a worker thread.

    The first request to arrive opens a batch; requests arriving within ``max_wait_ms`` join
    it until it holds ``max_batch`` answers (a request that would pass the cap waits for the
    next batch; a request larger than the cap is a batch of its own). The batch is scored by
    one call of ``score`` in a single worker thread, so the event loop keeps reading
    requests meanwhile, and the answers of the next batch gather while this one is scored.
    If that call raises, each request of the batch is scored on its own, so a request that
    fails fails alone and the others batched with it still get their scores.

    Parameters
    ----------
    score : callable
        ``score(prompts, answers) -> {name: ndarray}``, one row per answer in each array.
        Called from one worker thread at a time.
    max_batch : int, default=256
        Most answers in one call of ``score`` (requests are never split).
    max_wait_ms : float, default=2.0
        How long a batch stays open for more requests after its first one arrives.

    Attributes
    ----------
    n_requests, n_answers : int
        Requests and answers scored so far (failed ones included).
    n_batches : int
        Calls of ``score`` so far (the per-request retries of a failed batch included).

    Example
    -------
    >>> import asyncio, numpy as np
    >>> batcher = MicroBatcher(lambda p, a: {"reward": np.array([len(x) for x in a], float)})
    >>> async def two():
    ...     return await asyncio.gather(batcher.submit(["q"], ["ab"]), batcher.submit(["q"], ["abc"]))
    >>> np.concatenate([s["reward"] for s in asyncio.run(two())]).tolist()
    [2.0, 3.0]
    >>> batcher.n_batches
    1
    >>> batcher.close()
    """

    def __init__(
        self,
        score: Callable[[list[str], list[str]], Scores],
        *,
        max_batch: int = 256,
        max_wait_ms: float = 2.0,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be 1 or more, got {max_batch}.")
        if not max_wait_ms >= 0:
            raise ValueError(f"max_wait_ms must be 0 or more, got {max_wait_ms}.")
        self.score = score
        self.max_batch = max_batch
        self.max_wait_ms = max_wait_ms
        self.n_requests = self.n_answers = self.n_batches = 0
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="embrm-score")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[_Job] | None = None
        self._task: asyncio.Task | None = None
        self._held: _Job | None = None

    async def submit(self, prompts: Sequence[str], answers: Sequence[str]) -> dict[str, np.ndarray]:
        """Score one request's (prompt, answer) rows in the next batch.

        Parameters
        ----------
        prompts, answers : sequence of str
            Row-aligned rendered texts (at least one row).

        Returns
        -------
        scores : dict of str to ndarray
            This request's rows of each array ``score`` returned.

        Raises
        ------
        Exception
            Whatever ``score`` raised for this request scored on its own.
        """
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._task is None or self._task.done():
            self._start(loop)
        job = _Job(list(prompts), list(answers), loop.create_future())
        self.n_requests += 1
        self.n_answers += len(job.answers)
        assert self._queue is not None
        self._queue.put_nowait(job)
        return await job.future

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the batching task on ``loop`` (a test client may run each request on its own)."""
        self._loop, self._queue, self._held = loop, asyncio.Queue(), None
        self._task = loop.create_task(self._run(), name="embrm-micro-batcher")

    async def _next_batch(self) -> list[_Job]:
        assert self._queue is not None and self._loop is not None
        first = self._held or await self._queue.get()
        self._held = None
        batch, size = [first], len(first.answers)
        deadline = self._loop.time() + self.max_wait_ms / 1000
        while size < self.max_batch:
            try:
                job = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - self._loop.time()
                if remaining <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self._queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
            if size + len(job.answers) > self.max_batch:
                self._held = job
                break
            batch.append(job)
            size += len(job.answers)
        return batch

    async def _run(self) -> None:
        while True:
            batch = await self._next_batch()
            batch = [job for job in batch if not job.future.done()]  # cancelled: client gone
            if not batch:
                continue
            prompts = [p for job in batch for p in job.prompts]
            answers = [a for job in batch for a in job.answers]
            try:
                scores = await self._call(prompts, answers)
            except Exception as exc:
                if len(batch) == 1:
                    _settle(batch[0].future, exc=exc)
                    continue
                for job in batch:  # each alone, so one bad request fails alone
                    try:
                        _settle(job.future, await self._call(job.prompts, job.answers))
                    except Exception as job_exc:
                        _settle(job.future, exc=job_exc)
                continue
            start = 0
            for job in batch:
                stop = start + len(job.answers)
                _settle(job.future, {name: values[start:stop] for name, values in scores.items()})
                start = stop

    async def _call(self, prompts: list[str], answers: list[str]) -> Scores:
        assert self._loop is not None
        self.n_batches += 1
        scores = await self._loop.run_in_executor(self._executor, self.score, prompts, answers)
        for name, values in scores.items():
            if len(values) != len(answers):
                raise RuntimeError(
                    f"The scorer returned {len(values)} {name!r} values for {len(answers)} answers."
                )
        return scores

    def close(self) -> None:
        """Stop the batching task and the worker thread (requests already scored are kept)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)


def _settle(future: asyncio.Future, result: object = None, exc: BaseException | None = None) -> None:
    """Give ``future`` its result (or exception) unless its request was cancelled."""
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
