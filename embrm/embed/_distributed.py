"""Embed on a Ray cluster: the texts missing from the cache go to a pool of encoder actors.

:class:`RayEncoder` is an :class:`~embrm.Encoder` whose missing vectors are computed by Ray
Data instead of in this process. It finds what the cache lacks exactly as the Encoder does
(same content keys, same length-sorted inference batches), sends only that to the cluster
as a Ray dataset with one row per inference batch, and runs ``map_batches`` with a pool
of stateful actors, each holding one ONNX Runtime session of the same model (on a GPU
when the cluster has them). The actors return ``(key, vector)`` rows; this process imports
them into the cache in shards of ``shard_size`` vectors as they arrive, each import one
atomic, idempotent ``VectorCache.put``. So:

- an actor that dies is restarted by Ray and its batch retried (Ray Data's default for
  actor pools: unlimited restarts and task retries);
- a driver killed mid-run loses only the vectors not yet imported: run it again and only
  those are sent;
- two runs over overlapping data never duplicate a vector (``put`` skips cached keys).

Ray is the ``dist`` extra (``pip install 'embrm[dist]'``), imported only when a RayEncoder
is created.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..exceptions import DataError
from ._encoder import Encoder, _missing_by_length

INSTALL_HINT = "pip install 'embrm[dist]'"
_BATCHES_PER_BLOCK = 4  # inference batches per Ray block (the unit of scheduling, retry and import)


def _require_ray():
    try:
        import ray
        import ray.data  # noqa: F401 - the Data library is a separate extra of ray
    except ImportError as exc:
        raise ImportError(
            f"The Ray engine needs Ray Data, which is not installed: run `{INSTALL_HINT}` "
            "(or use the default in-process engine)."
        ) from exc
    return ray


class EmbedActor:
    """One encoder session in a Ray actor: embeds rows of inference batches.

    Parameters
    ----------
    options : dict
        :class:`~embrm.Encoder` keyword arguments (model, view, quantize, ...).
    identity : str
        The cache identity the driver expects; a worker whose model resolves differently
        (other weights) refuses to start rather than write mismatched vectors.
    device : {"cpu", "cuda"}
    num_threads : int
        ONNX Runtime threads of this actor.
    """

    def __init__(self, options: dict[str, Any], identity: str, device: str, num_threads: int) -> None:
        self.encoder = Encoder(**options, device=device, num_threads=num_threads, show_progress=False)
        if self.encoder.cache.identity != identity:
            raise RuntimeError(
                f"This worker resolves the model to {self.encoder.cache.identity!r}, but the driver "
                f"embeds under {identity!r}: install the same model package version on every node."
            )
        self.infer = self.encoder._infer_pairs if self.encoder.is_causal_lm else self.encoder._infer

    def __call__(self, batch) -> dict[str, np.ndarray]:
        """``batch``: a pyarrow table with columns ``keys`` and ``texts`` (or ``prompts`` and
        ``responses``), one inference batch per row. Returns keys (n, 16) and vectors."""
        keys: list[bytes] = []
        vectors = []
        for row in batch.to_pylist():
            items = (
                row["texts"] if "texts" in row else list(zip(row["prompts"], row["responses"], strict=True))
            )
            vectors.append(self.infer(items))
            keys.extend(row["keys"])
        return {
            "key": np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(-1, 16),
            "vector": np.concatenate(vectors).astype(np.float32, copy=False),
        }


class RayEncoder(Encoder):
    """An :class:`~embrm.Encoder` whose missing vectors are computed on a Ray cluster.

    Everything else (representations, identity, the cache, reading cached vectors) is the
    Encoder's; ``data.embed(RayEncoder(...))`` works wherever ``data.embed(Encoder(...))``
    does and gives the same vectors. Workers need embrm and the model's package installed
    (the same versions as here); each builds its session from its own copy of the model.

    Parameters
    ----------
    model, cache_dir : optional
        As for :class:`~embrm.Encoder`. Vectors land in this process's cache; workers
        keep their exported model under ``cache_dir`` on their own node.
    device : {"cpu", "cuda"}, optional
        Where the actors run: None picks GPU actors (one GPU each, onnxruntime-gpu on the
        workers) when the cluster has GPUs, else CPU actors. This process runs on CPU.
    address : str, optional
        The cluster to connect to (``"auto"``, ``"ray://head:10001"``, ...). None starts a
        local Ray instance with ``object_store_memory`` bytes of object store (or uses the
        one this process already started).
    num_workers : int, optional
        Actors in the pool; default one per GPU, else one per ``cpus_per_worker`` CPUs.
    cpus_per_worker : int, default 1
        CPUs (and ONNX Runtime threads) per CPU actor.
    shard_size : int, default 1024
        Vectors per cache shard written as results arrive: what a killed driver can lose.
    object_store_memory : int, default 500_000_000
        Object store of a local Ray instance started here (ignored with ``address``).
    **options
        Other :class:`~embrm.Encoder` options (``view``, ``quantize``, ``batch_size``, ...).

    Attributes
    ----------
    last_run : dict
        Of the last call that used the cluster: ``texts`` sent, ``workers``, ``device``.

    Example
    -------
    >>> from embrm import load_dataset
    >>> from embrm.embed import RayEncoder
    >>> encoder = RayEncoder("minilm", num_workers=2)  # doctest: +SKIP
    >>> X_chosen, X_rejected = load_dataset("hh-harmless").embed(encoder)  # doctest: +SKIP
    """

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        cache_dir: str | os.PathLike | None = None,
        device: str | None = None,
        *,
        address: str | None = None,
        num_workers: int | None = None,
        cpus_per_worker: int = 1,
        shard_size: int = 1024,
        object_store_memory: int = 500_000_000,
        **options: Any,
    ) -> None:
        _require_ray()
        if device not in (None, "cpu", "cuda"):
            raise ValueError(f"device must be None, 'cpu' or 'cuda'; got {device!r}.")
        for name, value in (("num_workers", num_workers or 1), ("cpus_per_worker", cpus_per_worker)):
            if int(value) < 1:
                raise ValueError(f"{name} must be a positive integer; got {value}.")
        if int(shard_size) < 1:
            raise ValueError(f"shard_size must be a positive integer; got {shard_size}.")
        if not options.get("write_cache", True):
            raise ValueError("RayEncoder embeds into the cache: write_cache=False is not available.")
        super().__init__(model, cache_dir, device="cpu", **options)  # this process only renders and reads
        self.worker_device = device
        self.address = address
        self.num_workers = num_workers
        self.cpus_per_worker = int(cpus_per_worker)
        self.shard_size = int(shard_size)
        self.object_store_memory = object_store_memory
        worker_options = {k: options[k] for k in ("view", "layer", "quantize", "batch_size") if k in options}
        self._worker_options = {"model": model, "cache_dir": str(self.cache_dir), **worker_options}
        self.last_run: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"RayEncoder(identity={self.identity!r}, address={self.address!r})"

    def _connect(self):
        ray = _require_ray()
        if not ray.is_initialized():
            if self.address is None:
                ray.init(
                    object_store_memory=self.object_store_memory,
                    include_dashboard=False,
                    _node_ip_address="127.0.0.1",  # a local instance listens on loopback only
                    log_to_driver=False,
                    configure_logging=False,
                )
            else:
                ray.init(address=self.address, log_to_driver=False, configure_logging=False)
        return ray

    def _pool(self, ray) -> tuple[int, str, dict[str, float]]:
        """Actors, their device and the resources each asks for."""
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        device = self.worker_device or ("cuda" if gpus else "cpu")
        if device == "cuda":
            if not gpus:
                raise DataError("device='cuda' but the Ray cluster has no GPU; use device='cpu' or None.")
            return self.num_workers or gpus, device, {"num_gpus": 1, "num_cpus": 1}
        cpus = int(resources.get("CPU", 1))
        workers = self.num_workers or max(1, cpus // self.cpus_per_worker)
        return workers, device, {"num_cpus": self.cpus_per_worker}

    def _encode(
        self,
        keys: list[bytes],
        items_of: Callable[[list[int]], list],
        size: Callable[[object], int],
        infer: Callable[[list], np.ndarray],
    ) -> np.ndarray:
        """Vectors for ``keys``: the missing ones computed on the cluster, then all read from the cache."""
        if not keys:
            raise DataError("Nothing to embed: the list of texts is empty.")
        found = self.cache.contains(keys)
        new_keys: list[bytes] = []
        if not found.all():
            new_keys, new_items = _missing_by_length(keys, found, items_of, size)  # as the Encoder batches
            self._run(new_keys, new_items)
            still = ~self.cache.contains(new_keys)
            if still.any():
                raise RuntimeError(
                    f"{int(still.sum())} vectors are missing from the cache after the Ray run "
                    "(a concurrent `cache verify --repair`?); run again to embed them."
                )
        vectors = super()._encode(keys, items_of, size, infer)  # every key cached: a plain read
        self.last_stats = {"texts": len(keys), "cached": int(found.sum()), "new": len(new_keys)}
        return vectors

    def _run(self, keys: list[bytes], items: list) -> None:
        """Embed ``items`` on the cluster and import the vectors under ``keys``."""
        import pyarrow as pa

        ray = self._connect()
        workers, device, resources = self._pool(ray)
        from ray.data import DataContext

        DataContext.get_current().enable_progress_bars = bool(self.show_progress)
        bs = self.batch_size
        rows = {"keys": [keys[i : i + bs] for i in range(0, len(keys), bs)]}
        if isinstance(items[0], tuple):
            rows["prompts"] = [[p for p, _ in items[i : i + bs]] for i in range(0, len(items), bs)]
            rows["responses"] = [[r for _, r in items[i : i + bs]] for i in range(0, len(items), bs)]
        else:
            rows["texts"] = [items[i : i + bs] for i in range(0, len(items), bs)]
        table = pa.table(rows)
        # Small blocks balance the pool and bound what a retry redoes; at most 64 per actor.
        n_blocks = min(max(workers, math.ceil(table.num_rows / _BATCHES_PER_BLOCK)), 64 * workers)
        bounds = np.linspace(0, table.num_rows, n_blocks + 1).astype(int)
        blocks = [table.slice(a, b - a) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
        dataset = ray.data.from_arrow(blocks).map_batches(
            EmbedActor,
            fn_constructor_kwargs={
                "options": self._worker_options,
                "identity": self.cache.identity,
                "device": device,
                "num_threads": self.cpus_per_worker,
            },
            batch_size=1,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=workers),  # restarts dead actors, retries their batch
            **resources,
        )
        self.last_run = {"texts": len(keys), "workers": workers, "device": device}
        import_vectors(self.cache, _results(dataset), self.shard_size)


def _results(dataset) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
        yield batch["key"], batch["vector"]


def import_vectors(cache, batches: Iterator[tuple[np.ndarray, np.ndarray]], shard_size: int) -> int:
    """Write ``(keys (n, 16) uint8, vectors (n, dim))`` batches into ``cache``, one shard per
    ``shard_size`` vectors; keys already cached are skipped. Returns the vectors received.

    Each shard is one atomic :meth:`VectorCache.put`, so an interrupted import keeps every
    shard written before the interruption and nothing half-written.
    """
    pending_keys: list[np.ndarray] = []
    pending: list[np.ndarray] = []
    n_pending = n_received = 0

    def flush() -> None:
        keys = np.concatenate(pending_keys)
        cache.put([k.tobytes() for k in keys], np.concatenate(pending))
        pending_keys.clear()
        pending.clear()

    for keys, vectors in batches:
        pending_keys.append(np.asarray(keys, dtype=np.uint8).reshape(-1, 16))
        pending.append(np.asarray(vectors))
        n_pending += len(keys)
        n_received += len(keys)
        if n_pending >= shard_size:
            flush()
            n_pending = 0
    if n_pending:
        flush()
    return n_received
