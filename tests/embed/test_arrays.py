"""EmbeddingArray: the encoder identity travels with the vectors into the heads."""

from __future__ import annotations

import pickle

import numpy as np
import polars as pl
import pytest

from embrm.cli import main
from embrm.embed import EmbeddingArray
from embrm.exceptions import DataError, EncoderMismatchError
from embrm.heads import BTLinear, load


@pytest.fixture
def X():
    return EmbeddingArray(np.arange(24, dtype=np.float32).reshape(6, 4), "enc-a")


def test_identity_survives_row_selection_copies_and_casts(X):
    kept = [
        X[[0, 2]],
        X[X[:, 0] > 4],
        X[1:3],
        X.take([1, 5], axis=0),
        X.copy(),
        X.astype(np.float32),
        X.astype(np.float64),
        X * 2.0,
        X[:3] - X[3:],
        np.vstack([X[:2], X[4:]]),
        np.concatenate([X, X]),
        pickle.loads(pickle.dumps(X)),
    ]
    for array in kept:
        assert isinstance(array, EmbeddingArray) and array.encoder_id == "enc-a"
    assert X.astype(np.float64).dtype == np.float64
    np.testing.assert_array_equal(X[[0, 2]], np.arange(24).reshape(6, 4)[[0, 2]])


def test_identity_is_dropped_where_representations_mix(X):
    other = EmbeddingArray(np.ones((6, 4), np.float32), "enc-b")
    dropped = [
        np.hstack([X, X]),
        np.column_stack([X, np.ones(6)]),
        np.concatenate([X, X], axis=1),
        np.vstack([X, other]),
        np.vstack([X, np.ones((1, 4))]),
        X - other,
    ]
    for array in dropped:
        assert getattr(array, "encoder_id", None) is None
    plain = np.asarray(X)
    assert type(plain) is np.ndarray and not hasattr(plain, "encoder_id")


def test_fit_records_the_identity_the_arrays_carry(X, tmp_path):
    rng = np.random.RandomState(0)
    X_win = EmbeddingArray(rng.normal(size=(40, 4)), "enc-a")
    X_lose = EmbeddingArray(rng.normal(size=(40, 4)), "enc-a")
    head = BTLinear().fit(X_win, X_lose)
    assert head.encoder_id_ == "enc-a"
    head.save(tmp_path / "h.npz")
    assert load(tmp_path / "h.npz", expected_encoder_id="enc-a").encoder_id_ == "enc-a"
    with pytest.raises(EncoderMismatchError, match="'enc-a'"):
        load(tmp_path / "h.npz", expected_encoder_id="enc-b")
    with pytest.raises(EncoderMismatchError, match="from encoder 'enc-b'"):
        head.reward(EmbeddingArray(X_win, "enc-b"))
    assert head.reward(np.asarray(X_win)).shape == (40,)  # plain arrays: only the dimension is checked
    assert BTLinear().fit(np.asarray(X_win), np.asarray(X_lose)).encoder_id_ is None
    with pytest.raises(DataError, match="different encoders"):
        BTLinear().fit(X_win, EmbeddingArray(X_lose, "enc-b"))
    with pytest.raises(EncoderMismatchError, match="encoder_id='enc-b' was passed"):
        BTLinear().fit(X_win, X_lose, encoder_id="enc-b")


def test_encoder_arrays_carry_its_identity(encoder, hh_embedded):
    assert hh_embedded.X_win.encoder_id == encoder.identity
    head = BTLinear().fit(hh_embedded.X_win, hh_embedded.X_lose)  # the README quickstart
    assert head.encoder_id_ == encoder.identity
    raw = encoder.encode(["a raw text"])
    assert raw.encoder_id == encoder.cache.identity


def test_cli_refuses_a_head_from_another_representation(hh_embedded, data_dir, encoder, tmp_path, capsys):
    head_file = tmp_path / "head.npz"
    BTLinear().fit(hh_embedded.X_win, hh_embedded.X_lose).save(head_file)
    data = tmp_path / "pairs.parquet"
    pl.read_parquet(data_dir / "hh_rlhf_harmless_test.parquet").head(4).write_parquet(data)
    cache = ["--cache-dir", str(encoder.cache_dir)]
    assert main(["eval", str(head_file), str(data), "--model", "minilm-windows", *cache]) == 2
    assert "trained on embeddings from encoder" in capsys.readouterr().err
    plain = tmp_path / "plain.npz"
    BTLinear().fit(np.asarray(hh_embedded.X_win), np.asarray(hh_embedded.X_lose)).save(plain)
    with pytest.warns(UserWarning, match="records no encoder identity"):
        assert main(["eval", str(plain), str(data), "--model", "minilm", *cache]) == 0
