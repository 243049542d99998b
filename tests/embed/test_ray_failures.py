"""The Ray engine's failure paths, without starting Ray or needing a GPU: a worker whose model
resolves to another identity refuses to start, ``device="cuda"`` on a cluster without GPUs
says so, vectors missing after a run are an error rather than a silent gap, and bad
arguments are refused. The cluster is a stand-in object where the code asks Ray for one."""

from __future__ import annotations

import types

import numpy as np
import pytest
from _require import require

require("ray", reason="the dist extra is not installed: pip install 'embrm[dist]'")

from embrm import Encoder  # noqa: E402
from embrm.embed import RayEncoder, RayEngine  # noqa: E402
from embrm.embed._distributed import EmbedActor  # noqa: E402
from embrm.exceptions import DataError  # noqa: E402

TEXTS = ["The cat sat on the mat.", "A quick brown fox.", "Seven is a prime number."]


def _cluster(**resources) -> types.SimpleNamespace:
    """What the Ray engine reads of a connected cluster: its resources."""
    return types.SimpleNamespace(cluster_resources=lambda: dict(resources))


def test_a_worker_with_another_model_identity_refuses_to_start(fresh_cache):
    options = {"model": None, "cache_dir": str(fresh_cache)}
    with pytest.raises(RuntimeError, match="resolves the model to .* but the driver embeds under "
                                           "'other-model-v9'.*same model package version"):
        EmbedActor(options, "other-model-v9", "cpu", 1)
    # the matching identity starts, and embeds rows of inference batches as the driver sends them
    identity = Encoder(cache_dir=fresh_cache, show_progress=False).cache.identity
    actor = EmbedActor(options, identity, "cpu", 1)
    import pyarrow as pa

    keys = [bytes([i]) * 16 for i in range(3)]
    out = actor(pa.table({"keys": [keys[:2], keys[2:]], "texts": [TEXTS[:2], TEXTS[2:]]}))
    assert out["key"].shape == (3, 16) and out["key"][2].tobytes() == keys[2]
    expected = Encoder(cache_dir=fresh_cache, show_progress=False).encode(TEXTS)
    np.testing.assert_allclose(out["vector"], expected, rtol=0, atol=1e-5)


def test_cuda_without_a_gpu_is_refused_before_any_work(fresh_cache, monkeypatch):
    import ray.data

    def no_work(*args, **kwargs):
        raise AssertionError("work was sent to a cluster that cannot run it")

    monkeypatch.setattr(ray.data, "from_arrow", no_work)
    encoder = Encoder(cache_dir=fresh_cache, device="cuda", show_progress=False, engine="ray")
    monkeypatch.setattr(RayEngine, "_connect", lambda self: _cluster(CPU=4.0))
    with pytest.raises(DataError, match="device='cuda' but the Ray cluster has no GPU"):
        encoder.encode(TEXTS)
    assert encoder.engine.last_run == {} and len(encoder.cache) == 0


@pytest.mark.parametrize(
    "device, num_workers, resources, expected",
    [
        (None, None, {"CPU": 4.0}, (4, "cpu", {"num_cpus": 1})),  # no GPU: CPU actors, one per CPU
        (None, None, {"CPU": 4.0, "GPU": 2.0}, (2, "cuda", {"num_gpus": 1, "num_cpus": 1})),
        ("cpu", None, {"CPU": 4.0, "GPU": 2.0}, (4, "cpu", {"num_cpus": 1})),
        ("cuda", 1, {"CPU": 4.0, "GPU": 2.0}, (1, "cuda", {"num_gpus": 1, "num_cpus": 1})),
    ],
)
def test_the_actor_pool_follows_the_clusters_resources(fresh_cache, device, num_workers, resources,
                                                       expected):
    engine = RayEngine(num_workers=num_workers)
    assert engine._pool(_cluster(**resources), device) == expected


def test_two_cpus_per_worker_halves_the_pool(fresh_cache):
    assert RayEngine(cpus_per_worker=2)._pool(_cluster(CPU=5.0), None) == (2, "cpu", {"num_cpus": 2})


def test_vectors_missing_after_a_run_are_an_error(fresh_cache, monkeypatch):
    encoder = Encoder(cache_dir=fresh_cache, show_progress=False, engine="ray")
    sent = []
    # a run that "finishes" but imports nothing (e.g. a concurrent repair removed the shard)
    monkeypatch.setattr(RayEngine, "_run", lambda self, encoder, keys, items: sent.append(len(keys)))
    with pytest.raises(RuntimeError, match="3 vectors are missing from the cache after the Ray run"):
        encoder.encode(TEXTS)
    assert sent == [3]
    # a run that imports only some of them: the count names what is missing
    reference = Encoder(cache_dir=fresh_cache, show_progress=False)

    def partial_run(self, encoder, keys, items):
        encoder.cache.put(keys[:1], reference.backend.infer(items[:1]))

    monkeypatch.setattr(RayEngine, "_run", partial_run)
    with pytest.raises(RuntimeError, match="2 vectors are missing"):
        encoder.encode(TEXTS)


def test_bad_arguments(fresh_cache):
    with pytest.raises(ValueError, match="device must be None, 'cpu' or 'cuda'; got 'gpu'"):
        Encoder(cache_dir=fresh_cache, device="gpu", engine="ray")
    for name in ("num_workers", "cpus_per_worker", "shard_size"):
        with pytest.raises(ValueError, match=f"{name} must be a positive integer"):
            RayEngine(**{name: -1})
    with pytest.raises(DataError, match="Nothing to embed"):
        Encoder(cache_dir=fresh_cache, engine="ray").encode([])
    with pytest.raises(ValueError, match="engine must be 'local', 'ray' or an object with a compute"):
        Encoder(cache_dir=fresh_cache, engine="dask")


def test_ray_encoder_is_a_deprecated_encoder_on_the_ray_engine(fresh_cache):
    with pytest.warns(DeprecationWarning, match=r"RayEncoder is deprecated.*engine=RayEngine"):
        encoder = RayEncoder(cache_dir=fresh_cache, device="cuda", num_workers=3, shard_size=7)
    assert isinstance(encoder, Encoder) and isinstance(encoder.engine, RayEngine)
    assert (encoder.engine.num_workers, encoder.engine.shard_size, encoder.device) == (3, 7, "cuda")
    assert encoder.backend.options.device == "cpu"  # this process only renders and reads
    assert encoder.identity == Encoder(cache_dir=fresh_cache).identity
    assert encoder.last_run is encoder.engine.last_run


def test_an_engine_object_computes_the_missing_vectors(fresh_cache):
    class Recording:
        """An engine of one's own: embeds locally and records what it was sent."""

        def __init__(self):
            self.sent = []

        def check(self, encoder):
            pass

        def compute(self, encoder, keys, items):
            self.sent.append(list(items))
            encoder.cache.put(keys, encoder.backend.infer(items))

    engine = Recording()
    encoder = Encoder(cache_dir=fresh_cache, show_progress=False, engine=engine)
    X = encoder.encode([*TEXTS, TEXTS[0]])
    assert engine.sent == [sorted(TEXTS, key=len)]  # distinct texts once, shortest first
    expected = Encoder(cache_dir=fresh_cache, show_progress=False).encode(TEXTS)
    np.testing.assert_allclose(X, np.vstack([expected, expected[:1]]), rtol=0, atol=1e-6)
