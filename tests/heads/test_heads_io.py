"""The saved-head format: what it holds and how bad files fail."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from embrm.exceptions import DataError
from embrm.heads import BTMLP, DRM, BTLinear, ClassifierHead, Ensemble, LGBMHead, load


def _as_older_embrm_wrote(path, edit, drop=()):
    """A copy of a saved head with ``edit(meta)`` applied and the array files in ``drop`` removed."""
    with zipfile.ZipFile(path) as zf:
        files = {name: zf.read(name) for name in zf.namelist()}
    meta = json.loads(files["meta.json"])
    edit(meta)
    files["meta.json"] = json.dumps(meta).encode()
    old = path.with_name("old-" + path.name)
    with zipfile.ZipFile(old, "w") as zf:
        for name, data in files.items():
            if not any(d in name for d in drop):
                zf.writestr(name, data)
    return old


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


def test_a_drm_saved_before_feature_standardisation_loads_with_its_rewards(pairs, test_pairs, tmp_path):
    # What an older embrm wrote: no `standardize` parameter, a summed `alpha`, `mean_head`,
    # no `feature_scale_`, directions in raw feature units and the weights it had then.
    head = DRM(n_components=3, standardize=False, first_head="mean").fit(pairs.X_win, pairs.X_lose)
    path = tmp_path / "drm.npz"
    head.save(path)

    def edit(meta):
        for name in ("standardize", "weight_decay", "first_head"):
            del meta["head"]["params"][name]
        meta["head"]["params"].update(alpha=10.0, mean_head=True)
        del meta["head"]["state"]["feature_scale_"]

    loaded = load(_as_older_embrm_wrote(path, edit, drop=("feature_scale_",)))
    assert loaded.standardize is False
    assert loaded.first_head == "mean"
    assert loaded.weight_decay == DRM().weight_decay
    np.testing.assert_array_equal(loaded.reward(test_pairs.X_win), head.reward(test_pairs.X_win))


@pytest.mark.parametrize("mean_head, first_head", [(True, "mean"), (False, None)])
def test_a_drm_saved_with_mean_head_refits_as_it_was_fitted(pairs, tmp_path, mean_head, first_head):
    head = DRM(n_components=3, first_head=first_head).fit(pairs.X_win, pairs.X_lose)
    path = tmp_path / "drm.npz"
    head.save(path)

    def edit(meta):
        del meta["head"]["params"]["first_head"]
        meta["head"]["params"]["mean_head"] = mean_head

    loaded = load(_as_older_embrm_wrote(path, edit))
    assert loaded.first_head == first_head
    np.testing.assert_array_equal(loaded.directions_, head.directions_)


@pytest.mark.parametrize(
    "make",
    [
        lambda: BTLinear(alpha=10.0, standardize=False),
        lambda: ClassifierHead(alpha=10.0, standardize=False, random_state=0),
    ],
    ids=["bt-linear", "classifier"],
)
def test_a_linear_head_saved_before_standardisation_loads_with_its_rewards(make, pairs, test_pairs, tmp_path):
    # What an older embrm wrote: no `standardize` parameter, no `feature_scale_`, a raw `coef_`.
    head = make().fit(pairs.X_win, pairs.X_lose)
    path = tmp_path / "linear.npz"
    head.save(path)

    def edit(meta):
        del meta["head"]["params"]["standardize"]
        meta["head"]["params"].pop("center_by_group", None)
        del meta["head"]["state"]["feature_scale_"]

    loaded = load(_as_older_embrm_wrote(path, edit, drop=("feature_scale_",)))
    assert loaded.standardize is False
    assert getattr(loaded, "center_by_group", False) is False
    np.testing.assert_array_equal(loaded.reward(test_pairs.X_win), head.reward(test_pairs.X_win))


def test_a_classifier_mlp_saved_before_the_linear_base_loads_with_its_rewards(pairs, test_pairs, tmp_path):
    head = ClassifierHead(kind="mlp", hidden_layer_sizes=(8,), linear_base=False, random_state=0)
    head.fit(pairs.X_win, pairs.X_lose, groups=pairs.groups)
    path = tmp_path / "mlp.npz"
    head.save(path)

    def edit(meta):
        for name in ("standardize", "center_by_group", "linear_base"):
            del meta["head"]["params"][name]
        for name in ("coef_", "intercept_", "feature_scale_"):
            del meta["head"]["state"][name]

    loaded = load(_as_older_embrm_wrote(path, edit, drop=("coef_.", "feature_scale_")))
    assert loaded.linear_base is False
    np.testing.assert_array_equal(loaded.reward(test_pairs.X_win), head.reward(test_pairs.X_win))


def test_a_bt_mlp_saved_with_alpha_loads_with_its_rewards(pairs, test_pairs, tmp_path):
    # What an older embrm wrote: the penalty as `alpha` against the summed loss.
    head = BTMLP(hidden_layer_sizes=(8,), max_epochs=3, random_state=0).fit(pairs.X_win, pairs.X_lose)
    path = tmp_path / "mlp.npz"
    head.save(path)

    def edit(meta):
        meta["head"]["params"]["alpha"] = 100.0
        del meta["head"]["params"]["weight_decay"]

    loaded = load(_as_older_embrm_wrote(path, edit))
    assert loaded.get_params()["weight_decay"] == BTMLP().weight_decay
    np.testing.assert_array_equal(loaded.reward(test_pairs.X_win), head.reward(test_pairs.X_win))


def test_an_lgbm_head_saved_before_the_linear_base_loads_with_its_rewards(pairs, test_pairs, tmp_path):
    head = LGBMHead(n_estimators=10, linear_base=False, random_state=0).fit(pairs.X_win, pairs.X_lose)
    path = tmp_path / "lgbm.npz"
    head.save(path)

    def edit(meta):
        del meta["head"]["params"]["linear_base"]
        for name in ("linear_coef_", "linear_intercept_"):
            del meta["head"]["state"][name]

    loaded = load(_as_older_embrm_wrote(path, edit, drop=("linear_coef_",)))
    assert loaded.linear_base is False
    np.testing.assert_array_equal(loaded.reward(test_pairs.X_win), head.reward(test_pairs.X_win))


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
    # The unfitted `base` is saved too: upgrade hooks must not assume fitted state.
    head = Ensemble(base(), n_members=2, random_state=0).fit(pairs.X_win, pairs.X_lose)
    head.save(tmp_path / "e.npz")
    loaded = load(tmp_path / "e.npz")
    np.testing.assert_array_equal(loaded.reward(test_pairs.X_win), head.reward(test_pairs.X_win))
