"""The saved-head format: what it holds and how bad files fail."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from embrm.exceptions import DataError
from embrm.heads import BTMLP, DRM, BTLinear, ClassifierHead, Ensemble, LGBMHead, load


def test_saved_head_without_encoder_loads_with_a_warning(pairs, tmp_path):
    head = BTLinear().fit(pairs.X_win, pairs.X_lose)
    head.save(tmp_path / "h.npz")
    with pytest.warns(UserWarning, match="records no encoder identity.*'whatever'"):
        loaded = load(tmp_path / "h.npz", expected_encoder_id="whatever")
    assert loaded.encoder_id_ is None
    np.testing.assert_array_equal(loaded.coef_, head.coef_)


def test_nested_heads_are_stored_as_json_plus_arrays(pairs, tmp_path):
    head = Ensemble(BTLinear(alpha=2.0), n_members=2, random_state=0)
    head.fit(pairs.X_win, pairs.X_lose, encoder_id="enc")
    head.save(tmp_path / "e.npz")
    with zipfile.ZipFile(tmp_path / "e.npz") as zf:
        meta = json.loads(zf.read("meta.json"))
        names = set(zf.namelist())
    assert meta["format"] == "embrm-head" and meta["format_version"] == 1
    assert meta["head"]["params"]["base"]["__head__"]["params"]["alpha"] == 2.0
    assert {"members_/0/coef_.npy", "members_/1/coef_.npy", "member_mean_.npy"} <= names
    loaded = load(tmp_path / "e.npz")
    assert loaded.base.get_params() == head.base.get_params()


def test_not_a_head_file_is_a_clear_error(tmp_path):
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    with pytest.raises(DataError, match="is not a saved embrm head"):
        load(tmp_path / "plain.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(DataError, match="is not a saved embrm head"):
        load(tmp_path / "text.npz")


def test_future_format_versions_are_refused(pairs, tmp_path):
    BTLinear().fit(pairs.X_win, pairs.X_lose).save(tmp_path / "h.npz")
    with zipfile.ZipFile(tmp_path / "h.npz") as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    meta = json.loads(members["meta.json"])
    meta["format_version"] = 99
    members["meta.json"] = json.dumps(meta).encode()
    with zipfile.ZipFile(tmp_path / "h2.npz", "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(DataError, match="version 99; this embrm reads 'embrm-head' version 1"):
        load(tmp_path / "h2.npz")


def test_save_overwrites_atomically(pairs, tmp_path):
    path = tmp_path / "h.npz"
    BTLinear(alpha=1.0).fit(pairs.X_win, pairs.X_lose).save(path)
    BTLinear(alpha=5.0).fit(pairs.X_win, pairs.X_lose).save(path)
    assert load(path).alpha == 5.0
    assert [p.name for p in tmp_path.iterdir()] == ["h.npz"]


@pytest.mark.parametrize(
    "base",
    [
        lambda: LGBMHead(n_estimators=5),
        lambda: DRM(n_components=2),
        lambda: BTMLP(max_epochs=2),
        lambda: BTLinear(),
        lambda: ClassifierHead(random_state=0),
    ],
    ids=["lgbm", "drm", "bt-mlp", "bt-linear", "classifier"],
)
def test_an_ensemble_of_any_base_round_trips(pairs, test_pairs, tmp_path, base):
    # The unfitted `base` is saved too.
    head = Ensemble(base(), n_members=2, random_state=0).fit(pairs.X_win, pairs.X_lose)
    head.save(tmp_path / "e.npz")
    loaded = load(tmp_path / "e.npz")
    np.testing.assert_array_equal(loaded.reward(test_pairs.X_win), head.reward(test_pairs.X_win))


def test_a_file_with_unknown_parameters_is_a_clear_error(pairs, tmp_path):
    # e.g. a BTMLP written by a development version, with its penalty as `weight_decay`.
    BTMLP(hidden_layer_sizes=(4,), max_epochs=2, random_state=0).fit(pairs.X_win, pairs.X_lose).save(
        tmp_path / "h.npz"
    )
    with zipfile.ZipFile(tmp_path / "h.npz") as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    meta = json.loads(members["meta.json"])
    meta["head"]["params"]["weight_decay"] = meta["head"]["params"].pop("alpha")
    members["meta.json"] = json.dumps(meta).encode()
    with zipfile.ZipFile(tmp_path / "old.npz", "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(DataError, match=r"BTMLP has parameters this embrm does not know: \['weight_decay'\]"):
        load(tmp_path / "old.npz")
