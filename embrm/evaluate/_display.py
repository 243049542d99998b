"""Plots as scikit-learn-style Display objects; matplotlib is imported only when drawing."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import polars as pl
from numpy.typing import ArrayLike

from embrm._core.compat import import_optional
from embrm.evaluate._bon import bon_curve
from embrm.evaluate._metrics import reliability_table
from embrm.exceptions import DataError


def _axes(ax: Any) -> tuple[Any, Any]:
    """Return ``(ax, figure)``, creating a figure when ``ax`` is None."""
    if ax is None:
        plt = import_optional("matplotlib.pyplot", "Plotting")
        _, ax = plt.subplots()
    return ax, ax.figure


class BestOfNDisplay:
    """Best-of-N curve: golden score of the head's pick against N (or the BoN KL).

    Build it with :meth:`from_predictions` or :meth:`from_curve`; the constructor only
    stores the columns of a :func:`~embrm.evaluate.bon_curve` table.

    Parameters
    ----------
    curve : polars.DataFrame
        Output of :func:`~embrm.evaluate.bon_curve` (with or without interval columns).
    name : str, optional
        Legend label of the head's curve.

    Attributes
    ----------
    line_ : matplotlib Line2D
        The head's curve.
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from embrm.evaluate import BestOfNDisplay
    >>> display = BestOfNDisplay.from_predictions(
    ...     [3.0, 1.0, 2.0, 0.0, 1.0, 2.0], [1.0, 0.0, 0.5, 0.2, 0.1, 0.0], [0, 0, 0, 1, 1, 1], name="head")
    >>> display.line_.get_ydata().round(4).tolist()  # expected golden score of the pick, N = 1..3
    [0.3, 0.4333, 0.5]
    """

    def __init__(self, curve: pl.DataFrame, *, name: str | None = None) -> None:
        self.curve = curve
        self.name = name

    def plot(
        self,
        ax: Any = None,
        *,
        x: Literal["n", "kl"] = "n",
        name: str | None = None,
        baselines: bool = True,
    ) -> BestOfNDisplay:
        """Draw the curve, its interval band if any, and the random and golden baselines.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Axes to draw on (e.g. another display's ``ax_`` to compare heads); a new
            figure by default.
        x : {"n", "kl"}, default="n"
            Horizontal axis: N on a log-2 scale, or the BoN KL log N − (N − 1)/N.
        name : str, optional
            Legend label; overrides the one given at construction.
        baselines : bool, default=True
            Also draw the golden curve (Best-of-N by the golden score) and the random
            baseline (turn off when adding a second head to the same axes).

        Returns
        -------
        display : BestOfNDisplay
            ``self``, with ``line_``, ``ax_`` and ``figure_`` set.
        """
        if x not in ("n", "kl"):
            raise DataError(f"'x' must be 'n' or 'kl'; got {x!r}.")
        ax, figure = _axes(ax)
        c = self.curve
        xs = c[x].to_numpy()
        (self.line_,) = ax.plot(xs, c["bon"].to_numpy(), marker=".", label=name or self.name or "head")
        if "bon_ci_low" in c.columns:
            ax.fill_between(
                xs,
                c["bon_ci_low"].to_numpy(),
                c["bon_ci_high"].to_numpy(),
                color=self.line_.get_color(),
                alpha=0.2,
                linewidth=0,
            )
        if baselines:
            ax.plot(xs, c["golden_bon"].to_numpy(), linestyle=":", color="black", label="golden")
            ax.plot(xs, c["random"].to_numpy(), linestyle="--", color="grey", label="random")
        if x == "n":
            ax.set_xscale("log", base=2)
            ax.set_xlabel("N (candidates per prompt)")
        else:
            ax.set_xlabel("KL = log N − (N − 1)/N")
        ax.set_ylabel("golden score of the pick")
        ax.legend()
        self.ax_, self.figure_ = ax, figure
        return self

    @classmethod
    def from_curve(
        cls,
        curve: pl.DataFrame,
        *,
        name: str | None = None,
        ax: Any = None,
        x: Literal["n", "kl"] = "n",
    ) -> BestOfNDisplay:
        """Plot a table returned by :func:`~embrm.evaluate.bon_curve`."""
        missing = {"n", "kl", "bon", "random", "golden_bon"} - set(curve.columns)
        if missing:
            raise DataError(
                f"'curve' lacks the column(s) {sorted(missing)}: pass the table "
                "returned by embrm.evaluate.bon_curve."
            )
        return cls(curve, name=name).plot(ax=ax, x=x)

    @classmethod
    def from_predictions(
        cls,
        reward: ArrayLike,
        golden: ArrayLike,
        groups: ArrayLike,
        *,
        n_max: int | None = None,
        n_bootstrap: int = 0,
        confidence: float = 0.95,
        random_state: int | np.random.RandomState | None = None,
        name: str | None = None,
        ax: Any = None,
        x: Literal["n", "kl"] = "n",
    ) -> BestOfNDisplay:
        """Compute the exact Best-of-N curve (see :func:`~embrm.evaluate.bon_curve`) and plot it.

        Parameters
        ----------
        reward, golden, groups, n_max, n_bootstrap, confidence, random_state
            As in :func:`~embrm.evaluate.bon_curve`; with ``n_bootstrap > 0`` the
            interval is drawn as a band.
        name, ax, x
            As in :meth:`plot`.

        Returns
        -------
        display : BestOfNDisplay
        """
        curve = bon_curve(
            reward,
            golden,
            groups,
            n_max=n_max,
            n_bootstrap=n_bootstrap,
            confidence=confidence,
            random_state=random_state,
        )
        return cls.from_curve(curve, name=name, ax=ax, x=x)


class ReliabilityDisplay:
    """Reliability diagram: observed frequency against mean predicted probability per bin.

    Parameters
    ----------
    table : polars.DataFrame
        Output of :func:`~embrm.evaluate.reliability_table`.
    ece : float
        Expected calibration error, shown in the legend.
    name : str, optional
        Legend label.

    Attributes
    ----------
    line_ : matplotlib Line2D
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    """

    def __init__(self, table: pl.DataFrame, ece: float, *, name: str | None = None) -> None:
        self.table = table
        self.ece = ece
        self.name = name

    def plot(self, ax: Any = None, *, name: str | None = None) -> ReliabilityDisplay:
        """Draw the non-empty bins and the diagonal of perfect calibration.

        Returns
        -------
        display : ReliabilityDisplay
            ``self``, with ``line_``, ``ax_`` and ``figure_`` set.
        """
        ax, figure = _axes(ax)
        t = self.table.filter(pl.col("count") > 0)
        ax.plot([0, 1], [0, 1], linestyle=":", color="black", label="perfectly calibrated")
        label = f"{name or self.name or 'head'} (ECE = {self.ece:.3f})"
        (self.line_,) = ax.plot(
            t["mean_prob"].to_numpy(), t["frac_positive"].to_numpy(), marker="s", label=label
        )
        ax.set(
            xlim=(0, 1),
            ylim=(0, 1),
            xlabel="mean predicted probability",
            ylabel="observed frequency of label 1",
        )
        ax.legend(loc="upper left")
        self.ax_, self.figure_ = ax, figure
        return self

    @classmethod
    def from_predictions(
        cls,
        y_true: ArrayLike,
        y_prob: ArrayLike,
        *,
        n_bins: int = 10,
        name: str | None = None,
        ax: Any = None,
    ) -> ReliabilityDisplay:
        """Bin the predictions and plot them.

        For preference pairs pass ``*symmetrize_pairs(proba)`` as ``y_true, y_prob``.

        Parameters
        ----------
        y_true, y_prob, n_bins
            As in :func:`~embrm.evaluate.reliability_table`.
        name, ax
            As in :meth:`plot`.

        Returns
        -------
        display : ReliabilityDisplay
        """
        table = reliability_table(y_true, y_prob, n_bins=n_bins)
        gap_mass = (table["count"] * table["gap"].abs()).fill_null(0.0).sum()
        return cls(table, gap_mass / table["count"].sum(), name=name).plot(ax=ax)
