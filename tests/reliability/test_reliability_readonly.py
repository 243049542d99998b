"""Read-only caches: reads and ``verify`` work, writes fail with CacheWriteError naming the folder.

As root, file permissions do not stop writes, so the checks run in a subprocess without the
capabilities that bypass them (``setpriv``); as another user, ``chmod`` alone is enough.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest

CHECKS = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from embrm import Encoder
    from embrm.cli import main
    from embrm.embed import VectorCache
    from embrm.exceptions import CacheWriteError

    root, empty, texts_file = sys.argv[1:4]
    texts = json.load(open(texts_file))
    out = {}
    try:
        open(root + "/probe", "w")
        out["writable"] = True
    except PermissionError:
        out["writable"] = False
    encoder = Encoder(cache_dir=root, num_threads=1, show_progress=False)
    out["vectors"] = encoder.encode(texts).tolist()
    out["inference_calls"] = encoder.n_inference_calls
    report = encoder.cache.verify()
    out["verify_ok"] = report.ok
    out["cli_verify"] = main(["cache", "verify", "--cache-dir", root])
    for name, call in (
        ("new_text", lambda: encoder.encode(["a text that is not cached yet"])),
        ("repair", lambda: encoder.cache.verify(repair=True)),
        ("export", lambda: Encoder(cache_dir=empty, show_progress=False).encode(["x"])),
    ):
        try:
            call()
            out[name] = "no error"
        except CacheWriteError as exc:
            out[name] = str(exc)
    json.dump(out, sys.stdout)
    """
)


def _read_only(path):
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        os.chmod(dirpath, 0o555)


def _writable(path):
    for dirpath, _, filenames in os.walk(path):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)


def test_read_only_cache(pristine_cache, tmp_path):
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: permissions cannot be enforced")
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner"]
    else:
        prefix = []
    root = pristine_cache.copy(tmp_path / "ro")
    (root / "vectors" / pristine_cache.identity / ".lock").unlink(missing_ok=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    texts_file = tmp_path / "texts.json"
    texts_file.write_text(json.dumps(pristine_cache.texts))
    _read_only(root)
    _read_only(empty)
    try:
        proc = subprocess.run(
            [*prefix, sys.executable, "-c", CHECKS, str(root), str(empty), str(texts_file)],
            capture_output=True,
            text=True,
            timeout=300,
            # no model store to fall back on either: the export must go into the empty cache
            env={**os.environ, "EMBRM_MODEL_DIR": str(empty / "store")},
        )
    finally:
        _writable(root)
        _writable(empty)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["writable"] is False  # the permissions really hold in the subprocess
    np.testing.assert_array_equal(np.asarray(out["vectors"], np.float32), pristine_cache.vectors)
    assert out["inference_calls"] == 0
    assert out["verify_ok"] is True and out["cli_verify"] == 0
    vectors_dir = str(root / "vectors" / pristine_cache.identity)
    assert out["new_text"].startswith(f"Cannot write to the embedding cache {vectors_dir}")
    assert out["repair"].startswith(f"Cannot write to the embedding cache {vectors_dir}")
    assert out["export"].startswith(f"Cannot write to the embedding cache {empty / 'models'}")
