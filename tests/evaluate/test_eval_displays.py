"""Display objects write real PNG files; skipped when matplotlib is missing."""

from __future__ import annotations

import numpy as np
import pytest
from _require import require

from embrm.evaluate import (
    BestOfNDisplay,
    ReliabilityDisplay,
    bon_curve,
    expected_calibration_error,
    symmetrize_pairs,
)
from embrm.exceptions import DataError

matplotlib = require("matplotlib")
matplotlib.use("Agg")
plt = require("matplotlib.pyplot")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def scored():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(40), 8)
    golden = rng.normal(size=groups.size)
    return golden + rng.normal(size=groups.size), golden, groups


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("x", ["n", "kl"])
def test_best_of_n_display_writes_png(scored, tmp_path, x):
    display = BestOfNDisplay.from_predictions(*scored, n_bootstrap=50, name="bt", x=x)
    curve = bon_curve(*scored)
    np.testing.assert_allclose(display.line_.get_ydata(), curve["bon"])
    np.testing.assert_allclose(display.line_.get_xdata(), curve[x])
    assert display.ax_.get_legend().get_texts()[0].get_text() == "bt"
    assert display.ax_.get_xscale() == ("log" if x == "n" else "linear")
    path = tmp_path / "bon.png"
    display.figure_.savefig(path)
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_best_of_n_display_second_head_on_same_axes(scored):
    reward, golden, groups = scored
    first = BestOfNDisplay.from_predictions(reward, golden, groups, name="a")
    second = BestOfNDisplay(bon_curve(-reward, golden, groups), name="b").plot(ax=first.ax_, baselines=False)
    assert second.ax_ is first.ax_
    labels = [t.get_text() for t in first.ax_.get_legend().get_texts()]
    assert labels == ["a", "golden", "random", "b"]


def test_best_of_n_display_rejects_bad_curve_and_axis(scored):
    with pytest.raises(DataError, match="lacks the column"):
        BestOfNDisplay.from_curve(bon_curve(*scored).drop("golden_bon"))
    with pytest.raises(DataError, match="'x' must be 'n' or 'kl'"):
        BestOfNDisplay(bon_curve(*scored)).plot(x="log")


def test_reliability_display_writes_png(tmp_path):
    rng = np.random.default_rng(1)
    margin = rng.normal(size=500) + 1.0
    proba = 1 / (1 + np.exp(-2 * margin))
    y_true, y_prob = symmetrize_pairs(proba)
    display = ReliabilityDisplay.from_predictions(y_true, y_prob, n_bins=5, name="bt")
    table = display.table.filter(display.table["count"] > 0)
    np.testing.assert_allclose(display.line_.get_xdata(), table["mean_prob"])
    np.testing.assert_allclose(display.line_.get_ydata(), table["frac_positive"])
    assert display.ece == pytest.approx(expected_calibration_error(y_true, y_prob, n_bins=5))
    assert f"{display.ece:.3f}" in display.ax_.get_legend().get_texts()[1].get_text()
    path = tmp_path / "reliability.png"
    display.figure_.savefig(path)
    assert path.read_bytes()[:8] == PNG_MAGIC
