"""The linear heads' fitted numbers, pinned on one fixed seed: restructuring the linear fit
(one module, one ``fit_indexed``, named optimiser settings) must not move them."""

from __future__ import annotations

import numpy as np
import pytest

from embrm.heads import DRM, BTLinear, ClassifierHead, LGBMHead
from embrm.testing import make_preference_pairs

# Written by the code before the restructuring (300 pairs, 6-d, 30 groups, seed 3).
BT_COEF = [-2.1231139210964973, 3.0754638669769667, 0.5168337735898481, 1.2365016872152885,
           1.7110303640877569, -0.6609359789138455]  # fmt: skip
CLASSIFIER_COEF = [-1.386140492043893, 2.1580700450859878, 0.438003041521068, 0.9425443546951779,
                   1.4282253023897753, -0.0432735352513591]  # fmt: skip
CLASSIFIER_INTERCEPT, CLASSIFIER_TEMPERATURE = 0.036169873854883364, 0.38001904174135615
BT_INDEXED_COEF = [-2.1231139210965635, 3.0754638669561585, 0.5168337735746221, 1.236501687151053,
                   1.7110303641872033, -0.6609359788892739]  # fmt: skip
CLASSIFIER_INDEXED_COEF = [-1.3861404984389676, 2.1580700502356542, 0.43800303806202306,
                           0.9425443648490465, 1.428225322639139, -0.043273527349231365]  # fmt: skip
CLASSIFIER_INDEXED_INTERCEPT, CLASSIFIER_INDEXED_TEMPERATURE = 0.0361698755215932, 0.38001904380092366
DRM_WEIGHTS = [2.3276634491258417, -0.02685037879355178, -0.058833952426241246, -0.06091894137691175]
LGBM_BINARY_BASE = [-0.13936299257494206, 0.21718011490929723, 0.03090871075328328, 0.06824923059441065,
                    0.12440313633822679, -0.025670090060929827]  # fmt: skip
LGBM_BINARY_INTERCEPT = 4.390604619389646e-05
LGBM_PAIRWISE_BASE = [-0.12972196820964596, 0.20372360341650436, 0.02833832334897558, 0.06493486262736375,
                      0.1138598765625494, -0.02733199163144346]  # fmt: skip

TIGHT = {"rtol": 1e-9, "atol": 1e-12}


@pytest.fixture(scope="module")
def data():
    return make_preference_pairs(300, 6, n_groups=30, random_state=3)


@pytest.fixture(scope="module")
def indexed(data):
    """The same pairs as row numbers into one stack of vectors."""
    X = np.concatenate([data.X_win, data.X_lose])
    return X, np.arange(300), np.arange(300, 600)


def test_bt_linear_fit_is_pinned(data):
    head = BTLinear(alpha=5.0).fit(data.X_win, data.X_lose)
    np.testing.assert_allclose(head.coef_, BT_COEF, **TIGHT)
    assert head.n_iter_ == 8


def test_classifier_fit_is_pinned(data):
    head = ClassifierHead(alpha=5.0, random_state=0).fit(data.X_win, data.X_lose, groups=data.groups)
    np.testing.assert_allclose(head.coef_, CLASSIFIER_COEF, **TIGHT)
    np.testing.assert_allclose(
        [head.intercept_, head.temperature_], [CLASSIFIER_INTERCEPT, CLASSIFIER_TEMPERATURE], **TIGHT
    )
    assert head.n_iter_ == 7


def test_bt_linear_fit_indexed_is_pinned(indexed):
    head = BTLinear(alpha=5.0).fit_indexed(*indexed, chunk_size=64)
    np.testing.assert_allclose(head.coef_, BT_INDEXED_COEF, **TIGHT)
    assert (head.n_iter_, head.n_passes_) == (8, 22)


def test_classifier_fit_indexed_is_pinned(data, indexed):
    head = ClassifierHead(alpha=5.0, random_state=0).fit_indexed(*indexed, groups=data.groups, chunk_size=64)
    np.testing.assert_allclose(head.coef_, CLASSIFIER_INDEXED_COEF, **TIGHT)
    np.testing.assert_allclose(
        [head.intercept_, head.temperature_],
        [CLASSIFIER_INDEXED_INTERCEPT, CLASSIFIER_INDEXED_TEMPERATURE],
        **TIGHT,
    )
    assert (head.n_iter_, head.n_passes_) == (7, 17)


def test_drm_bradley_terry_weights_are_pinned(data):
    head = DRM(n_components=3).fit(data.X_win, data.X_lose)
    np.testing.assert_allclose(head.weights_, DRM_WEIGHTS, **TIGHT)


@pytest.mark.parametrize(
    ("objective", "coef", "intercept"),
    [("binary", LGBM_BINARY_BASE, LGBM_BINARY_INTERCEPT), ("pairwise", LGBM_PAIRWISE_BASE, 0.0)],
)
def test_lgbm_linear_base_is_pinned(data, objective, coef, intercept):
    head = LGBMHead(objective=objective, n_estimators=2, random_state=0)
    head.fit(data.X_win, data.X_lose, groups=data.groups)
    np.testing.assert_allclose(head.linear_coef_, coef, **TIGHT)
    assert head.linear_intercept_ == pytest.approx(intercept, rel=1e-9, abs=1e-15)
