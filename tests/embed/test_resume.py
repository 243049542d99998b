"""A real embed job killed halfway keeps its finished chunks and resumes where it stopped."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np

from embrm import Encoder
from embrm.embed import VectorCache

TEXTS = [f"Short text number {i} about topic {i % 17}." for i in range(600)]

JOB = textwrap.dedent(
    """
    import sys
    import embrm.embed._encoder as enc_mod
    from embrm import Encoder
    enc_mod._CHUNK = 32  # small shards, so a kill lands between chunks
    texts = [f"Short text number {i} about topic {i % 17}." for i in range(600)]
    Encoder(cache_dir=sys.argv[1], batch_size=8, num_threads=1, show_progress=False).encode(texts)
    """
)


def test_killed_job_resumes(fresh_cache, encoder):
    tmp_path = fresh_cache
    proc = subprocess.Popen([sys.executable, "-c", JOB, str(tmp_path)])
    cache = VectorCache(tmp_path, encoder.identity)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and len(cache) < 96:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = len(VectorCache(tmp_path, encoder.identity))
    assert 96 <= kept < len(TEXTS), kept  # killed halfway, finished chunks kept

    resumed = Encoder(cache_dir=tmp_path, show_progress=False)
    vectors = resumed.encode(TEXTS)
    assert resumed.last_stats == {"texts": len(TEXTS), "cached": kept, "new": len(TEXTS) - kept}
    assert VectorCache(tmp_path, encoder.identity).verify(repair=True).corrupt == []
    reference = Encoder(cache_dir=tmp_path / "clean", show_progress=False)
    shutil.copytree(encoder.model_dir, tmp_path / "clean" / "models" / encoder.identity)
    np.testing.assert_allclose(vectors, reference.encode(TEXTS), atol=2e-3)
