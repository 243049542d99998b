"""The Ray engine: the texts missing from the cache go to a pool of encoder actors.

``Encoder(..., engine="ray")`` (or ``engine=RayEngine(...)``) computes its missing vectors
with Ray Data instead of in this process. The Encoder finds what the cache lacks (same
content keys, same length-sorted inference batches) and :class:`RayEngine` sends only that to the cluster
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

Ray is the ``dist`` extra (``pip install 'embrm[dist]'``), imported only when a RayEngine
is used.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from embrm._core.stack import external_stacklevel
from embrm.embed._encoder import Encoder
from embrm.exceptions import DataError

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
        self.infer = self.encoder.backend.infer

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


class RayEngine:
    """Computes an :class:`~embrm.Encoder`'s missing vectors on a Ray cluster.

    Everything else (representations, identity, the cache, reading cached vectors) is the
    Encoder's; ``data.embed(Encoder(..., engine=RayEngine()))`` gives the vectors
    ``data.embed(Encoder(...))`` does. The encoder's ``device`` is the workers' (None: GPU
    actors, one GPU each, onnxruntime-gpu on the workers, when the cluster has GPUs, else
    CPU actors); this process runs on CPU. Workers need embrm and the model's package
    installed (the same versions as here); each builds its session from its own copy of the
    model, kept under ``cache_dir`` on its own node.

    Parameters
    ----------
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

    Attributes
    ----------
    last_run : dict
        Of the last call that used the cluster: ``texts`` sent, ``workers``, ``device``.

    Example
    -------
    >>> from embrm import Encoder, load_dataset
    >>> encoder = Encoder("minilm", engine=RayEngine(num_workers=2))  # doctest: +SKIP
    >>> X_chosen, X_rejected = load_dataset("hh-harmless").embed(encoder)  # doctest: +SKIP
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        num_workers: int | None = None,
        cpus_per_worker: int = 1,
        shard_size: int = 1024,
        object_store_memory: int = 500_000_000,
    ) -> None:
        for name, value in (("num_workers", num_workers or 1), ("cpus_per_worker", cpus_per_worker)):
            if int(value) < 1:
                raise ValueError(f"{name} must be a positive integer; got {value}.")
        if int(shard_size) < 1:
            raise ValueError(f"shard_size must be a positive integer; got {shard_size}.")
        self.address = address
        self.num_workers = num_workers
        self.cpus_per_worker = int(cpus_per_worker)
        self.shard_size = int(shard_size)
        self.object_store_memory = object_store_memory
        self.last_run: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"RayEngine(address={self.address!r}, num_workers={self.num_workers!r})"

    def check(self, encoder: Encoder) -> None:
        """Refuse what the cluster cannot do: an unknown device, not writing the cache."""
        _require_ray()
        if encoder.device not in (None, "cpu", "cuda"):
            raise ValueError(f"device must be None, 'cpu' or 'cuda'; got {encoder.device!r}.")
        if not encoder.write_cache:
            raise ValueError("The Ray engine embeds into the cache: write_cache=False is not available.")

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

    def _pool(self, ray, device: str | None) -> tuple[int, str, dict[str, float]]:
        """Actors, their device and the resources each asks for (``device``: the encoder's)."""
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        device = device or ("cuda" if gpus else "cpu")
        if device == "cuda":
            if not gpus:
                raise DataError("device='cuda' but the Ray cluster has no GPU; use device='cpu' or None.")
            return self.num_workers or gpus, device, {"num_gpus": 1, "num_cpus": 1}
        cpus = int(resources.get("CPU", 1))
        workers = self.num_workers or max(1, cpus // self.cpus_per_worker)
        return workers, device, {"num_cpus": self.cpus_per_worker}

    def compute(self, encoder: Encoder, keys: list[bytes], items: list) -> None:
        """Embed ``items`` on the cluster into ``encoder.cache`` under ``keys``, and check they all came."""
        self._run(encoder, keys, items)
        still = ~encoder.cache.contains(keys)
        if still.any():
            raise RuntimeError(
                f"{int(still.sum())} vectors are missing from the cache after the Ray run "
                "(a concurrent `cache verify --repair`?); run again to embed them."
            )

    def _run(self, encoder: Encoder, keys: list[bytes], items: list) -> None:
        """Embed ``items`` on the cluster and import the vectors under ``keys``."""
        import pyarrow as pa

        ray = self._connect()
        workers, device, resources = self._pool(ray, encoder.device)
        from ray.data import DataContext

        DataContext.get_current().enable_progress_bars = bool(encoder.show_progress)
        bs = encoder.batch_size
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
        options = encoder._options
        worker_options = {
            "model": options.model,
            "cache_dir": str(options.cache_dir),
            "view": options.view,
            "layer": options.layer,
            "quantize": options.quantize,
            "batch_size": encoder.batch_size,
        }
        dataset = ray.data.from_arrow(blocks).map_batches(
            EmbedActor,
            fn_constructor_kwargs={
                "options": worker_options,
                "identity": encoder.cache.identity,
                "device": device,
                "num_threads": self.cpus_per_worker,
            },
            batch_size=1,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=workers),  # restarts dead actors, retries their batch
            **resources,
        )
        self.last_run = {"texts": len(keys), "workers": workers, "device": device}
        import_vectors(encoder.cache, _results(dataset), self.shard_size)


class RayEncoder(Encoder):
    """Deprecated: use ``Encoder(..., engine=RayEngine(...))`` (or ``engine="ray"``).

    Builds that encoder from the same arguments (see :class:`RayEngine` for ``address``,
    ``num_workers``, ``cpus_per_worker``, ``shard_size`` and ``object_store_memory``), with
    a DeprecationWarning.

    Example
    -------
    >>> from embrm import Encoder
    >>> encoder = Encoder("minilm", engine="ray")  # doctest: +SKIP
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
        warnings.warn(
            "RayEncoder is deprecated and will be removed in the next release: use "
            "Encoder(..., engine=RayEngine(address=..., num_workers=...)) or Encoder(..., engine='ray').",
            DeprecationWarning,
            stacklevel=external_stacklevel(),
        )
        engine = RayEngine(address, num_workers, cpus_per_worker, shard_size, object_store_memory)
        super().__init__(model, cache_dir, device, engine=engine, **options)

    @property
    def last_run(self) -> dict[str, Any]:
        """Of the last call that used the cluster: ``texts`` sent, ``workers``, ``device``."""
        return self.engine.last_run


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
