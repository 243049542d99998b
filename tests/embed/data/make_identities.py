"""Write ``identities_v1.json`` and ``vectors_v1.npz``: the regression fixture of the Encoder.

For each cheap named representation, the identity, the cache identities of its backbones and
the vectors of three short (prompt, response) pairs, computed in a scratch cache with the
machine's model store. ``tests/embed/test_identities.py`` recomputes them and compares.

Run from the repository root: ``python tests/embed/data/make_identities.py``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from embrm import Encoder

HERE = Path(__file__).parent
NAMES = (
    "static",
    "static-split",
    "minilm",
    "minilm-windows",
    "minilm-split",
    "minilm+length",
    "static+minilm",
    "smollm2-mean",
)
PROMPTS = ["What is 2+2?", "Name a colour.", "Say hello politely."]
RESPONSES = ["2+2 is 4.", "Blue is a colour of the sky.", "Hello, it is nice to meet you!"]
N_PAIRS = {"smollm2-mean": 2}  # the causal LM reads two pairs: enough, and quick


def cache_identities(encoder: Encoder) -> list[str]:
    """The vector-cache identities an encoder reads and writes (one per backbone)."""
    parts = getattr(encoder, "parts", ()) or (encoder,)
    return [part.cache.identity for part in parts]


def main() -> None:
    record: dict[str, dict] = {}
    arrays: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in NAMES:
            encoder = Encoder(name, cache_dir=Path(tmp) / name, show_progress=False)
            n = N_PAIRS.get(name, len(PROMPTS))
            arrays[name] = np.asarray(encoder.encode_responses(PROMPTS[:n], RESPONSES[:n]), dtype=np.float32)
            identities = cache_identities(encoder)
            record[name] = {"identity": encoder.identity, "cache_identities": identities, "pairs": n}
    (HERE / "identities_v1.json").write_text(
        json.dumps({"prompts": PROMPTS, "responses": RESPONSES, "representations": record}, indent=2) + "\n"
    )
    np.savez_compressed(HERE / "vectors_v1.npz", **arrays)


if __name__ == "__main__":
    main()
