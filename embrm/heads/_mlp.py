"""A small ReLU MLP reward trained in numpy (no torch), and the Bradley-Terry MLP head.

Training is minibatch Adam over a proper partition of the training rows each epoch, with
early stopping on a validation split by group and the best epoch restored.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy.special import expit, log_expit
from sklearn.utils import check_random_state

from embrm._core.groups import grouped_validation_split
from embrm._core.validation import POSITIVE_INT_TUPLE, RANDOM_STATE, Interval
from embrm.heads._base import BaseHead
from embrm.heads._docs import shared_docs


def mlp_forward(params: list[np.ndarray], X: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Output of the ReLU MLP ``params = [W1, b1, ..., Wk, bk]`` and its activations."""
    activations = [X]
    h = X
    n_layers = len(params) // 2
    for i in range(n_layers):
        h = h @ params[2 * i] + params[2 * i + 1]
        if i < n_layers - 1:
            np.maximum(h, 0.0, out=h)
        activations.append(h)
    return h[:, 0], activations


def mlp_backward(
    params: list[np.ndarray], activations: list[np.ndarray], grad_out: np.ndarray
) -> list[np.ndarray]:
    """Gradients of ``sum(grad_out * output)`` with respect to every parameter."""
    grads: list[np.ndarray] = [np.empty(0)] * len(params)
    delta = grad_out[:, None].astype(params[0].dtype)
    for i in reversed(range(len(params) // 2)):
        grads[2 * i] = activations[i].T @ delta
        grads[2 * i + 1] = delta.sum(axis=0)
        if i > 0:
            delta = delta @ params[2 * i].T
            delta *= activations[i] > 0
    return grads


#: Adam's step size, minibatch size, most epochs and early-stopping patience (epochs without
#: a better validation loss) of the MLP heads by default.
MLP_LEARNING_RATE = 3e-4
MLP_BATCH_SIZE = 256
MLP_MAX_EPOCHS = 1000
MLP_PATIENCE = 10
#: Added to each input feature's standard deviation before the MLP divides by it.
INPUT_SCALE_FLOOR = 1e-6
#: Adam's moment decay rates and the denominator's guard.
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


@dataclass
class MLPTrainer:
    """Minibatch Adam with an L2 penalty and early stopping on a validation slice.

    The objective is the mean log-loss over the training rows plus
    ``alpha / 2 * ||W||^2 / n_rows`` (weights only, not biases): ``alpha`` is an L2 penalty
    against the *summed* log-loss, as in :class:`~embrm.heads.BTLinear`.

    The model is pairwise (margin ``f(a) - f(b)``, the Bradley-Terry loss) when fed two
    row-aligned arrays, or pointwise (margin ``t * (f(x) + o)`` with ``t = +-1`` and a fixed
    offset ``o`` per row, 0 by default: the logistic loss) when fed rows and signs. Either
    way the loss is ``softplus(-margin)``.
    """

    hidden_layer_sizes: tuple[int, ...]
    alpha: float
    learning_rate: float
    batch_size: int
    max_epochs: int
    patience: int

    def init(self, n_features: int, rng: np.random.RandomState) -> list[np.ndarray]:
        """He-initialised float32 weights and zero biases."""
        sizes = [n_features, *self.hidden_layer_sizes, 1]
        params = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            params.append((rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(np.float32))
            params.append(np.zeros(fan_out, dtype=np.float32))
        return params

    def train(
        self,
        params: list[np.ndarray],
        train: tuple[np.ndarray, np.ndarray, np.ndarray],
        val: tuple[np.ndarray, np.ndarray, np.ndarray],
        pairwise: bool,
        rng: np.random.RandomState,
        offsets: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[list[np.ndarray], int, list[float]]:
        """Train in place from ``params``; return the best epoch's params and the history.

        ``train`` and ``val`` are ``(A, B, weight)``: for pairwise data ``A``/``B`` are the
        preferred/other rows, for pointwise data ``A`` are rows and ``B`` their signs.
        ``offsets`` are the pointwise rows' fixed offsets in ``train`` and ``val`` (none if
        not given).
        """
        A, B, w = train
        n = A.shape[0]
        offset, val_offset = offsets if offsets is not None else (None, None)
        w = (w / w.mean()).astype(np.float32)
        m1 = [np.zeros_like(p) for p in params]
        m2 = [np.zeros_like(p) for p in params]
        (beta1, beta2), eps = ADAM_BETAS, ADAM_EPS
        step = 0
        best = (np.inf, [p.copy() for p in params], 0)
        history: list[float] = []
        for epoch in range(1, self.max_epochs + 1):
            order = rng.permutation(n)
            for start in range(0, n, self.batch_size):
                idx = order[start : start + self.batch_size]
                batch_offset = None if offset is None else offset[idx]
                grads = self._batch_grads(params, A[idx], B[idx], w[idx], batch_offset, pairwise, n)
                step += 1
                lr = self.learning_rate * np.sqrt(1 - beta2**step) / (1 - beta1**step)
                for p, g, a, b in zip(params, grads, m1, m2, strict=True):
                    a *= beta1
                    a += (1 - beta1) * g
                    b *= beta2
                    b += (1 - beta2) * g * g
                    p -= (lr * a / (np.sqrt(b) + eps)).astype(p.dtype)
            val_loss = self.loss(params, val, pairwise, val_offset)
            history.append(val_loss)
            if val_loss < best[0]:
                best = (val_loss, [p.copy() for p in params], epoch)
            elif epoch - best[2] >= self.patience:
                break
        return best[1], best[2], history

    def _batch_grads(
        self,
        params: list[np.ndarray],
        A: np.ndarray,
        B: np.ndarray,
        w: np.ndarray,
        offset: np.ndarray | None,
        pairwise: bool,
        n_total: int,
    ) -> list[np.ndarray]:
        n = A.shape[0]
        if pairwise:
            out, acts = mlp_forward(params, np.concatenate([A, B]))
            margin = out[:n] - out[n:]
            g = -w * expit(-margin) / n
            grad_out = np.concatenate([g, -g])
        else:
            out, acts = mlp_forward(params, A)
            if offset is not None:
                out = out + offset
            g = -w * B * expit(-B * out) / n
            grad_out = g
        grads = mlp_backward(params, acts, grad_out)
        for i in range(0, len(params), 2):
            grads[i] += self.alpha / n_total * params[i]
        return grads

    def loss(
        self,
        params: list[np.ndarray],
        data: tuple[np.ndarray, np.ndarray, np.ndarray],
        pairwise: bool,
        offset: np.ndarray | None = None,
    ) -> float:
        """Weighted mean log-loss of ``data`` (same layout as in :meth:`train`; ``offset``
        of its pointwise rows, 0 if not given)."""
        A, B, w = data
        if pairwise:
            margin = mlp_forward(params, A)[0] - mlp_forward(params, B)[0]
        else:
            out = mlp_forward(params, A)[0]
            margin = B * (out if offset is None else out + offset)
        return float(-np.average(log_expit(margin.astype(np.float64)), weights=w))


#: Default L2 penalty of the MLP heads per training row (pair for BTMLP, response for the
#: MLP ClassifierHead): with ``alpha=None`` the penalty against the summed loss is this
#: times the number of training rows.
MLP_ALPHA_PER_ROW = 0.03


def mlp_alpha(alpha: float | None, n_rows: int) -> float:
    """The L2 penalty against the summed loss: ``alpha``, or ``MLP_ALPHA_PER_ROW * n_rows``
    when it is None."""
    return MLP_ALPHA_PER_ROW * n_rows if alpha is None else float(alpha)


@shared_docs
class BTMLP(BaseHead):
    """A small MLP reward ``r(x) = f(x)`` trained with the Bradley-Terry loss.

    ``f`` is a ReLU MLP on standardised embeddings, trained in numpy with minibatch Adam.
    Each epoch visits every training pair once (a partition, not draws with replacement);
    pairs are split into train and validation *by group* (prompt), and the epoch with the
    lowest validation loss is restored. :meth:`reference` gives the published reference
    settings (384 -> 1024 -> 512 -> 1, lr 1e-3, 30 epochs, batch 10,240, 20% validation,
    patience 3) with this corrected procedure.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(256,)
        Hidden layer widths.
    alpha : float or None, default=None
        L2 penalty ``alpha / 2 * ||W||^2`` on the weights (not the biases) against the
        summed pair log-loss, as in :class:`~embrm.heads.BTLinear` and scikit-learn's
        ``MLPClassifier``. None means 0.03 per training pair (``0.03 * n_train_pairs``),
        which is PyTorch's ``Adam(weight_decay=0.03)`` on the mean loss.
    learning_rate : float, default=3e-4
        Adam step size.
    batch_size : int, default=256
        Pairs per Adam step.
    max_epochs : int, default=1000
        Most passes over the training pairs (large sets stop by ``patience`` first).
    patience : int, default=10
        Stop after this many epochs without a lower validation loss.
    validation_fraction : float, default=0.1
        Share of groups (or pairs, without groups) kept back as the validation split, for early stopping.
    random_state : int, RandomState or None, default=None
        Seeds the initialisation, the split and the batch order.

    Attributes
    ----------
    coefs_ : list of ndarray
        ``[W1, b1, ..., Wk, bk]`` (float32).
    input_mean_, input_scale_ : ndarray of shape (n_features,)
        Standardisation of the inputs (from the training responses).
    alpha_ : float
        The penalty used (``alpha``, or its default for the training set's size).
    n_epochs_ : int
        The restored (best) epoch.
    validation_loss_ : list of float
        Validation log-loss after each epoch run.
    {fit_record}

    Examples
    --------
    >>> from embrm.heads import BTMLP
    >>> from embrm.testing import make_preference_pairs
    >>> data = make_preference_pairs(n_pairs=300, n_features=8, random_state=0)
    >>> head = BTMLP(hidden_layer_sizes=(16,), learning_rate=3e-3, max_epochs=100, random_state=0)
    >>> head = head.fit(data.X_win, data.X_lose, groups=data.groups)
    >>> head.score(data.X_win, data.X_lose) > 0.85
    True
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "hidden_layer_sizes": [POSITIVE_INT_TUPLE],
        "alpha": [Interval(numbers.Real, 0.0, None), None],
        "learning_rate": [Interval(numbers.Real, 0.0, None, closed="neither")],
        "batch_size": [Interval(numbers.Integral, 1, None)],
        "max_epochs": [Interval(numbers.Integral, 1, None)],
        "patience": [Interval(numbers.Integral, 1, None)],
        "validation_fraction": [Interval(numbers.Real, 0.0, 1.0, closed="neither")],
        "random_state": [RANDOM_STATE],
    }
    _min_pairs: ClassVar[int] = 10

    def __init__(
        self,
        hidden_layer_sizes: tuple[int, ...] = (256,),
        alpha: float | None = None,
        learning_rate: float = MLP_LEARNING_RATE,
        batch_size: int = MLP_BATCH_SIZE,
        max_epochs: int = MLP_MAX_EPOCHS,
        patience: int = MLP_PATIENCE,
        validation_fraction: float = 0.1,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.alpha = alpha
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    @classmethod
    def reference(cls, random_state: int | None = None) -> BTMLP:
        """The reference code's settings (d -> 1024 -> 512 -> 1, Adam lr 1e-3, 30 epochs,
        batch 10,240, 20% validation, patience 3, no weight decay), trained with embrm's
        corrected procedure (epoch partition, grouped split, best epoch restored)."""
        return cls(
            hidden_layer_sizes=(1024, 512),
            alpha=0.0,
            learning_rate=1e-3,
            batch_size=10240,
            max_epochs=30,
            patience=3,
            validation_fraction=0.2,
            random_state=random_state,
        )

    def _trainer(self) -> MLPTrainer:
        return MLPTrainer(
            hidden_layer_sizes=tuple(self.hidden_layer_sizes),
            alpha=self.alpha_,
            learning_rate=self.learning_rate,
            batch_size=self.batch_size,
            max_epochs=self.max_epochs,
            patience=self.patience,
        )

    def _fit(
        self,
        X_win: np.ndarray,
        X_lose: np.ndarray,
        sample_weight: np.ndarray,
        groups: np.ndarray | None,
    ) -> None:
        rng = check_random_state(self.random_state)
        tr, va = grouped_validation_split(groups, X_win.shape[0], self.validation_fraction, rng, self._name)
        both = np.concatenate([X_win[tr], X_lose[tr]])
        self.input_mean_ = both.mean(axis=0).astype(np.float32)
        self.input_scale_ = (both.std(axis=0) + INPUT_SCALE_FLOOR).astype(np.float32)
        Zw, Zl = self._standardise(X_win), self._standardise(X_lose)
        self.alpha_ = mlp_alpha(self.alpha, tr.size)
        trainer = self._trainer()
        params = trainer.init(X_win.shape[1], rng)
        self.coefs_, self.n_epochs_, self.validation_loss_ = trainer.train(
            params,
            (Zw[tr], Zl[tr], sample_weight[tr]),
            (Zw[va], Zl[va], sample_weight[va]),
            pairwise=True,
            rng=rng,
        )

    def _standardise(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.input_mean_) / self.input_scale_).astype(np.float32)

    def _reward(self, X: np.ndarray) -> np.ndarray:
        return mlp_forward(self.coefs_, self._standardise(X))[0]
