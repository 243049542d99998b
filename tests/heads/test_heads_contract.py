"""The contract every head keeps, checked on every head (and its main variants)."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import polars as pl
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score

from embrm.exceptions import DataError, EncoderMismatchError, NotFittedError
from embrm.heads import (
    BTMLP,
    DRM,
    HEADS,
    BTLinear,
    ClassifierHead,
    Ensemble,
    LGBMHead,
    load,
)

# Small settings so the whole module runs in seconds; each with a parameter to tune. The
# linear penalties are lighter than the defaults, which are tuned on thousands of
# real pairs: alpha=1000 on these 400 would shrink every probability towards 0.5.
HEAD_CASES = {
    "bt-linear": (lambda: BTLinear(alpha=10.0), {"alpha": [0.1, 10.0]}),
    "bt-mlp": (
        lambda: BTMLP(
            hidden_layer_sizes=(16,),
            alpha=4.0,
            learning_rate=1e-3,
            batch_size=32,
            max_epochs=30,
            random_state=0,
        ),
        {"alpha": [4.0, 100.0]},
    ),
    "classifier": (lambda: ClassifierHead(random_state=0), {"alpha": [0.1, 10.0]}),
    "classifier-mlp": (
        lambda: ClassifierHead(model="mlp", mlp_alpha=8.0, hidden_layer_sizes=(16,), random_state=0),
        {"mlp_alpha": [8.0, 200.0]},
    ),
    "lgbm": (lambda: LGBMHead(n_estimators=20, random_state=0), {"num_leaves": [4, 8]}),
    "lgbm-pairwise": (
        lambda: LGBMHead(objective="pairwise", n_estimators=20, random_state=0),
        {"num_leaves": [4, 8]},
    ),
    "ensemble": (
        lambda: Ensemble(BTLinear(alpha=10.0), n_members=3, random_state=0),
        {"base__alpha": [0.1, 10.0]},
    ),
    "ensemble-mlp-uwo": (
        lambda: Ensemble(
            BTMLP(hidden_layer_sizes=(16,), alpha=4.0, learning_rate=1e-3, batch_size=32, max_epochs=60),
            n_members=3,
            aggregate="uwo",
            random_state=0,
        ),
        {"base__alpha": [4.0, 100.0]},
    ),
    "drm": (lambda: DRM(n_components=5), {"n_components": [2, 4]}),
}


@pytest.fixture(params=list(HEAD_CASES), ids=list(HEAD_CASES))
def case(request):
    return HEAD_CASES[request.param]


@pytest.fixture
def head(case):
    return case[0]()


@pytest.fixture
def fitted(case, pairs):
    return case[0]().fit(pairs.X_win, pairs.X_lose, groups=pairs.groups, encoder_id="enc-a")


def test_registry_names_and_defaults():
    assert HEADS == {
        "bt-linear": BTLinear,
        "bt-mlp": BTMLP,
        "classifier": ClassifierHead,
        "lgbm": LGBMHead,
        "ensemble": Ensemble,
        "drm": DRM,
    }
    for cls in HEADS.values():
        head = cls()
        assert clone(head).get_params() == head.get_params()


def test_fit_returns_self_and_records_what_it_saw(head, pairs):
    assert head.fit(pairs.X_win, pairs.X_lose, encoder_id="enc-a") is head
    assert head.n_features_in_ == pairs.X_win.shape[1]
    assert head.encoder_id_ == "enc-a"


def test_init_only_stores_params_and_clone_is_unfitted(head, fitted):
    params = head.get_params(deep=False)
    assert all(getattr(head, k) is v for k, v in params.items())
    copy = clone(fitted)
    assert not hasattr(copy, "n_features_in_")
    assert copy.get_params(deep=False).keys() == params.keys()


def test_set_params_round_trip(case):
    head = case[0]()
    name, values = next(iter(case[1].items()))
    head.set_params(**{name: values[1]})
    assert head.get_params()[name] == values[1]


def test_reward_shape_and_dtype(fitted, test_pairs):
    r = fitted.reward(test_pairs.X_win)
    assert r.shape == (test_pairs.X_win.shape[0],)
    assert r.dtype == np.float64
    assert np.isfinite(r).all()
    assert np.ptp(r) > 0


def test_score_is_pairwise_accuracy_above_chance(fitted, test_pairs):
    acc = fitted.score(test_pairs.X_win, test_pairs.X_lose)
    r_w, r_l = fitted.reward(test_pairs.X_win), fitted.reward(test_pairs.X_lose)
    assert acc == pytest.approx(np.mean((r_w > r_l) + 0.5 * (r_w == r_l)))
    assert 0.65 < acc <= 1.0
    # Swapping the two sides gives the complement.
    assert fitted.score(test_pairs.X_lose, test_pairs.X_win) == pytest.approx(1 - acc)


def test_predict_proba_is_a_probability_and_antisymmetric(fitted, test_pairs):
    p = fitted.predict_proba(test_pairs.X_win, test_pairs.X_lose)
    q = fitted.predict_proba(test_pairs.X_lose, test_pairs.X_win)
    assert p.shape == (test_pairs.X_win.shape[0],)
    assert ((p >= 0) & (p <= 1)).all()
    np.testing.assert_allclose(p + q, 1.0, atol=1e-12)
    assert p.mean() > 0.55


def test_same_random_state_gives_identical_rewards(case, pairs, test_pairs):
    a = case[0]().fit(pairs.X_win, pairs.X_lose, groups=pairs.groups)
    b = case[0]().fit(pairs.X_win, pairs.X_lose, groups=pairs.groups)
    np.testing.assert_array_equal(a.reward(test_pairs.X_win), b.reward(test_pairs.X_win))


def test_save_load_round_trip_gives_identical_rewards(fitted, test_pairs, tmp_path):
    path = tmp_path / "head.npz"
    fitted.save(path)
    loaded = load(path, expected_encoder_id="enc-a")
    assert type(loaded) is type(fitted)
    assert loaded.get_params(deep=False).keys() == fitted.get_params(deep=False).keys()
    assert repr(loaded) == repr(fitted)
    np.testing.assert_array_equal(loaded.reward(test_pairs.X_win), fitted.reward(test_pairs.X_win))
    np.testing.assert_array_equal(
        loaded.predict_proba(test_pairs.X_win, test_pairs.X_lose),
        fitted.predict_proba(test_pairs.X_win, test_pairs.X_lose),
    )
    # Portable: plain .npy arrays (loadable without pickle) plus readable JSON metadata.
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        meta = json.loads(zf.read("meta.json"))
    assert all(n.endswith(".npy") for n in names if n != "meta.json")
    with np.load(path, allow_pickle=False) as archive:
        for key in archive.files:
            archive[key]  # an object array would raise here
    assert meta["encoder_id"] == "enc-a"
    assert meta["n_features_in"] == test_pairs.X_win.shape[1]
    assert meta["head"]["class"] == type(fitted).__name__


def test_load_with_another_encoder_is_an_error(fitted, tmp_path):
    fitted.save(tmp_path / "head.npz")
    with pytest.raises(EncoderMismatchError, match="enc-a.*not 'enc-b'"):
        load(tmp_path / "head.npz", expected_encoder_id="enc-b")


def test_reward_with_another_dimension_is_an_error(fitted):
    with pytest.raises(EncoderMismatchError, match="has 31 features.*32-d.*'enc-a'"):
        fitted.reward(np.zeros((3, 31)))


@pytest.mark.parametrize("method", ["reward", "score", "predict_proba", "save"])
def test_use_before_fit_is_an_error(head, method, pairs, tmp_path):
    args = {
        "reward": (pairs.X_win,),
        "score": (pairs.X_win, pairs.X_lose),
        "predict_proba": (pairs.X_win, pairs.X_lose),
        "save": (tmp_path / "h.npz",),
    }[method]
    with pytest.raises(NotFittedError, match=f"not fitted yet.*'{method}'"):
        getattr(head, method)(*args)


def test_bad_pairs_are_clear_errors(head, pairs):
    Xw, Xl = pairs.X_win, pairs.X_lose
    with pytest.raises(DataError, match=r"X_win has shape \(400, 32\) but X_lose has shape"):
        head.fit(Xw, Xl[:-1])
    with pytest.raises(DataError, match=r"X_win has shape .* \(400, 31\)"):
        head.fit(Xw, Xl[:, :-1])
    with pytest.raises(DataError, match="X_lose must be a 2-D array"):
        head.fit(Xw, Xl[:, 0])
    bad = Xl.copy()
    bad[[5, 9], 3] = [np.nan, np.inf]
    with pytest.raises(DataError, match=r"X_lose contains NaN or infinity in 2 row\(s\) \(first: row 5\)"):
        head.fit(Xw, bad)
    with pytest.raises(DataError, match="single class"):
        head.fit(Xw, Xw)
    with pytest.raises(DataError, match="needs at least .* pairs; got 1"):
        head.fit(Xw[:1], Xl[:1])
    with pytest.raises(DataError, match=r"sample_weight must have shape \(400,\)"):
        head.fit(Xw, Xl, np.ones(3))
    with pytest.raises(DataError, match="non-negative"):
        head.fit(Xw, Xl, -np.ones(400))
    with pytest.raises(DataError, match=r"groups must have shape \(400,\)"):
        head.fit(Xw, Xl, groups=np.ones(2))
    with pytest.raises(DataError, match="must hold numbers"):
        head.fit(Xw.astype(str), Xl)


def test_bad_input_to_fitted_head_is_a_clear_error(fitted, pairs):
    bad = pairs.X_win[:4].copy()
    bad[2, 0] = np.nan
    with pytest.raises(DataError, match=r"X contains NaN or infinity .*row 2"):
        fitted.reward(bad)
    with pytest.raises(DataError, match="X_a has shape .* but X_b has shape"):
        fitted.predict_proba(pairs.X_win[:4], pairs.X_lose[:3])


def test_bad_parameter_values_name_the_parameter(case, pairs):
    name = next(iter(case[1]))
    head = case[0]().set_params(**{name: -1})
    pattern = rf"The '{name.split('__')[-1]}' parameter of \w+ must be .* Got -1 instead"
    with pytest.raises(ValueError, match=pattern):
        head.fit(pairs.X_win, pairs.X_lose)


def test_cross_val_score_with_group_kfold(head, pairs):
    scores = cross_val_score(head, pairs.X_win, pairs.X_lose, groups=pairs.groups, cv=GroupKFold(3))
    assert scores.shape == (3,)
    assert (scores > 0.6).all()


def test_grid_search_cv_with_group_kfold(case, pairs):
    search = GridSearchCV(case[0](), case[1], cv=GroupKFold(3))
    search.fit(pairs.X_win, pairs.X_lose, groups=pairs.groups)
    assert search.best_params_.keys() == case[1].keys()
    assert search.best_score_ > 0.6
    assert 0.6 < search.score(pairs.X_win, pairs.X_lose) <= 1.0


class _FakeEncoder:
    """Embeds a (prompt, response) pair by a fixed random projection of character counts."""

    identity = "fake-encoder/v1"

    def __init__(self, direction: np.ndarray) -> None:
        self.direction = direction
        self.calls: list[int] = []

    def encode_responses(self, prompts, responses):
        self.calls.append(len(responses))
        feats = np.array(
            [[len(p) % 7, len(r), r.count("!"), 1.0] for p, r in zip(prompts, responses, strict=True)],
            dtype=np.float32,
        )
        return feats @ self.direction


class _FakePairs:
    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame


def test_fit_pairs_embeds_with_the_encoder_and_records_its_identity():
    rng = np.random.RandomState(0)
    prompts = [f"prompt {i % 10}" for i in range(60)]
    chosen = ["a" * rng.randint(20, 40) + "!" * rng.randint(0, 3) for _ in prompts]
    rejected = ["b" * rng.randint(1, 25) for _ in prompts]
    frame = pl.DataFrame({"prompt": prompts, "chosen": chosen, "rejected": rejected})
    encoder = _FakeEncoder(rng.standard_normal((4, 6)).astype(np.float32))
    head = BTLinear().fit_pairs(_FakePairs(frame), encoder)
    assert head.encoder_id_ == "fake-encoder/v1"
    assert head.n_features_in_ == 6
    assert encoder.calls == [120]
    X_w = encoder.encode_responses(prompts, chosen)
    X_l = encoder.encode_responses(prompts, rejected)
    assert head.score(X_w, X_l) > 0.9
    with pytest.raises(DataError, match=r"lacks the column\(s\) \['rejected'\]"):
        BTLinear().fit_pairs(_FakePairs(frame.drop("rejected")), encoder)


@pytest.mark.parametrize(
    "head",
    [ClassifierHead(random_state=0), LGBMHead(n_estimators=5, random_state=0)],
    ids=["classifier", "lgbm"],
)
def test_centring_without_groups_warns_and_centres_nothing(head, pairs):
    with pytest.warns(UserWarning, match="got no groups, so nothing is centred"):
        centred = clone(head).fit(pairs.X_win, pairs.X_lose)
    plain = clone(head).set_params(center_by_group=False).fit(pairs.X_win, pairs.X_lose)
    np.testing.assert_array_equal(centred.reward(pairs.X_win), plain.reward(pairs.X_win))


def test_a_pipeline_that_would_transform_only_the_winners_is_refused(pairs):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(StandardScaler(), BTLinear())
    with pytest.raises(DataError, match="transforms X_win only"):
        pipe.fit(pairs.X_win, pairs.X_lose)
    fitted = BTLinear().fit(pairs.X_win, pairs.X_lose)  # outside a pipeline: fine
    assert fitted.score(pairs.X_win, pairs.X_lose) > 0.5
