"""``Encoder(write_cache=False)``: cached vectors are read, new ones returned but not stored, and
they equal what a writing encoder stores and reads back."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from embrm import Encoder


@pytest.fixture
def static_cache(tmp_path, static_model_dir):
    shutil.copytree(static_model_dir, tmp_path / "models" / static_model_dir.name)
    return tmp_path


def test_new_vectors_are_not_stored_and_equal_the_stored_ones(static_cache):
    prompts, answers = ["a", "b", "c", "a"], ["x", "y", "z", "x"]
    reader = Encoder("static", cache_dir=static_cache, show_progress=False, write_cache=False)
    unstored = reader.encode_responses(prompts, answers)
    assert len(reader.cache) == 0 and reader.last_stats == {"texts": 4, "cached": 0, "new": 3}
    np.testing.assert_array_equal(unstored[0], unstored[3])  # a duplicate is embedded once
    writer = Encoder("static", cache_dir=static_cache, show_progress=False)
    stored = writer.encode_responses(prompts[:2], answers[:2])
    assert len(writer.cache) == 2
    np.testing.assert_array_equal(stored, unstored[:2])  # bit-identical to a cache read
    calls = reader.n_inference_calls
    mixed = reader.encode_responses(prompts, answers)  # a, b cached now; c still new
    np.testing.assert_array_equal(mixed, unstored)
    assert reader.n_inference_calls == calls + 1 and reader.last_stats["cached"] == 3
    assert len(reader.cache) == 2
    reader.encode_responses(["only"], ["cached?"])
    assert len(reader.cache) == 2


def test_the_flag_reaches_the_parts_of_a_combined_representation(static_cache):
    encoder = Encoder("static+minilm", cache_dir=static_cache, show_progress=False, write_cache=False)
    assert [p.write_cache for p in encoder.parts] == [False, False]
    encoder.write_cache = True
    assert encoder.write_cache and all(p.write_cache for p in encoder.parts)


def test_the_ray_engine_refuses_it(static_cache):
    from _require import require

    require("ray", reason="the dist extra is not installed: pip install 'embrm[dist]'")
    from embrm import Encoder

    with pytest.raises(ValueError, match="The Ray engine embeds into the cache: write_cache=False"):
        Encoder("static", cache_dir=static_cache, write_cache=False, engine="ray")
