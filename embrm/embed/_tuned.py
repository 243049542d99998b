"""The reward-tuned static representation: a static model whose tokens are re-weighted for the reward.

The static model (:mod:`embrm.embed._static`) embeds a text as ``x = S / ||S||`` with
``S = sum_t c_t T_t``, the sum of its known tokens' rows of the table ``T`` (``c_t``: how often
token ``t`` occurs). :class:`RewardTunedStatic` learns one weight ``w_t = exp(u_t)`` per token
and a direction ``b`` jointly, by minimising the Bradley-Terry loss of ``r = b @ x`` over the
training pairs, with

    x = normalise(C diag(w) T),

``C`` the sparse token-count matrix of the texts. A token the judge rewards or punishes gets a
weight above 1 (it pulls the text's vector further) and a token that only adds noise a weight
below 1; a token never seen in training keeps weight 1 (the L2 penalty on ``u`` pulls every
``u_t`` to 0). The tuned model is again a static model, its table's rows scaled by ``w_t``: it
embeds as fast as the static model, reads whole texts, and gives exact token rewards
(:func:`~embrm.embed.token_rewards`).

Its vectors depend on the training pairs, so it is a *fitted representation*: pass an unfitted
one as ``X`` of :func:`embrm.model_selection.cross_val_rewards`, which fits a clone on each
fold's training pairs only. Once fitted, :meth:`RewardTunedStatic.save` writes a model2vec
folder that ``Encoder(folder)`` embeds with through the vector cache, under an identity of its
own (the base model's and the tuned table's hash), and :meth:`RewardTunedStatic.load` reads back.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize
from sklearn.base import BaseEstimator

from embrm._core.compat import import_optional
from embrm._core.files import atomic_write_bytes, atomic_write_text, fsync_folder
from embrm.embed._backend import RAW_TEXT_FORMAT, BackendOptions
from embrm.embed._distill import STATIC_META
from embrm.embed._onnx import is_complete_export, record_checksums
from embrm.embed._render import SEPARATOR
from embrm.embed._static import STATIC_TEXT_FORMAT, StaticBackend, load_static
from embrm.exceptions import DataError, ModelLoadError, NotFittedError

__all__ = ["RewardTunedStatic", "TunedStaticBackend", "is_tuned_static"]

#: ``kind`` of a saved tuned model's record (``embrm_model.json``).
TUNED_KIND = "reward-tuned-static"
#: The learned token weights and direction, beside the model2vec files.
TUNING_FILE = "tuning.safetensors"


def is_tuned_static(model: object) -> bool:
    """Whether ``model`` is a folder holding a saved :class:`RewardTunedStatic`.

    Example
    -------
    >>> is_tuned_static("static"), is_tuned_static(None)
    (False, False)
    """
    if model is None or isinstance(model, bytes):
        return False
    record = Path(os.fspath(model)).expanduser() / STATIC_META
    try:
        return record.is_file() and json.loads(record.read_text()).get("kind") == TUNED_KIND
    except (OSError, ValueError, AttributeError):
        return False


# -- texts and token counts ----------------------------------------------------------------------


def _columns(data: Any) -> tuple[str, ...]:
    return tuple(getattr(getattr(data, "frame", None), "columns", ()))


def _texts(data: Any, render: Any) -> list[str]:
    """The joint texts of ``data``: a scored set's responses, a pairs set's chosen then rejected
    answers (each ``"{prompt}\\n\\n{response}"``), or a list of texts as they are."""
    columns = _columns(data)
    if "chosen" in columns and "rejected" in columns:
        prompts = data.frame["prompt"].to_list()
        return render(prompts + prompts, data.frame["chosen"].to_list() + data.frame["rejected"].to_list())
    if "response" in columns and "prompt" in columns:
        return render(data.frame["prompt"].to_list(), data.frame["response"].to_list())
    if (
        isinstance(data, str)
        or not isinstance(data, list | tuple)
        or not all(isinstance(t, str) for t in data)
    ):
        raise DataError(
            "RewardTunedStatic reads ScoredResponses, PreferencePairs or a list of texts (each "
            f"already joined as prompt + '\\n\\n' + response); got {type(data).__name__}."
        )
    return list(data)


def _render(prompts: list[str], responses: list[str]) -> list[str]:
    """The static joint view's texts (as :meth:`StaticBackend.render`)."""
    return [p + SEPARATOR + r for p, r in zip(prompts, responses, strict=True)]


class _TokenMemo:
    """Each text's token ids and counts, per tokenizer, so the folds of one cross-validation
    tokenise a text once; emptied when it would hold more than ``max_entries`` token entries."""

    def __init__(self, max_entries: int = 20_000_000) -> None:
        self.max_entries = max_entries
        self.tables: dict[str, dict[bytes, tuple[np.ndarray, np.ndarray]]] = {}
        self.size = 0
        self.keys: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def table(self, model: Any) -> dict[bytes, tuple[np.ndarray, np.ndarray]]:
        """The memo of ``model``'s tokenizer (keyed by a hash of the tokenizer itself)."""
        if model not in self.keys:
            self.keys[model] = hashlib.sha256(model.tokenizer.to_str().encode()).hexdigest()
        return self.tables.setdefault(self.keys[model], {})

    def add(self, table: dict, new: dict[bytes, list[int]]) -> None:
        """Remember the unique ids and counts of newly tokenised texts (``new``: key -> ids)."""
        rows = {}
        for key, ids in new.items():
            unique, counts = np.unique(np.asarray(ids, dtype=np.int64), return_counts=True)
            rows[key] = (unique.astype(np.int32), counts.astype(np.float64))
        n_entries = sum(r[0].size for r in rows.values())
        if self.size + n_entries > self.max_entries:
            for other in self.tables.values():
                other.clear()
            self.size = 0
        table.update(rows)
        self.size += n_entries


_MEMO = _TokenMemo()


def token_counts(model: Any, texts: list[str]) -> sp.csr_matrix:
    """The token-count matrix ``C`` of ``texts`` under a static model's tokenizer.

    Exactly the tokens ``model.encode`` averages (no special tokens, unknown tokens dropped,
    nothing cut), so ``normalise(C @ model.embedding)`` is ``model.encode(texts)``.

    Parameters
    ----------
    model : model2vec.StaticModel
    texts : list of str

    Returns
    -------
    csr_matrix of shape (len(texts), vocabulary size), float64

    Example
    -------
    >>> C = token_counts(model, ["a a b"])  # doctest: +SKIP
    >>> C.sum()  # doctest: +SKIP
    3.0
    """
    memo = _MEMO.table(model)
    keys = [hashlib.blake2b(t.encode("utf-8", "surrogatepass"), digest_size=16).digest() for t in texts]
    position = {k: i for i, k in enumerate(keys)}
    missing = [k for k in position if k not in memo]
    known = {k: memo[k] for k in position if k in memo}  # kept even if the memo is emptied below
    if missing:
        model.tokenizer.no_truncation()  # whole texts, as encode(max_length=None) reads them
        ids = model.tokenize([texts[position[k]] for k in missing])
        _MEMO.add(memo, dict(zip(missing, ids, strict=True)))
        known.update((k, memo[k]) for k in missing)
    rows = [known[k] for k in keys]
    indptr = np.concatenate([[0], np.cumsum([r[0].size for r in rows])])
    indices = np.concatenate([r[0] for r in rows]) if rows else np.zeros(0, np.int32)
    values = np.concatenate([r[1] for r in rows]) if rows else np.zeros(0)
    return sp.csr_matrix((values, indices, indptr), shape=(len(texts), model.embedding.shape[0]))


def _normalise(S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``S`` at unit L2 norm (zero rows stay zero) and the norms."""
    norm = np.linalg.norm(S, axis=1)
    safe = np.where(norm > 0, norm, 1.0)
    return S / safe[:, None], norm


# -- the objective --------------------------------------------------------------------------------


class _Objective:
    """The scaled BT loss of ``r = b @ normalise(C diag(exp(u)) T)`` and its exact gradient.

    ``theta = [u, a]`` with ``b = a / scale``; value and gradient are divided by the summed
    pair weight so one tolerance serves every data size.
    """

    def __init__(
        self,
        C: sp.csr_matrix,
        T: np.ndarray,
        win: np.ndarray,
        lose: np.ndarray,
        weight: np.ndarray,
        scale: np.ndarray,
        alpha: float,
        direction_alpha: float,
    ) -> None:
        self.C, self.Ct, self.T = C, C.T, T
        self.win, self.lose, self.weight, self.scale = win, lose, weight, scale
        self.alpha, self.direction_alpha = alpha, direction_alpha
        self.total = float(weight.sum())
        self.n_vocab = T.shape[0]

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        u, a = theta[: self.n_vocab], theta[self.n_vocab :]
        w = np.exp(u)
        b = a / self.scale
        x, norm = _normalise(self.C @ (self.T * w[:, None]))
        r = x @ b
        margin = r[self.win] - r[self.lose]
        loss = float(self.weight @ np.logaddexp(0.0, -margin))
        dm = -self.weight * np.exp(-np.logaddexp(0.0, margin))  # d loss / d margin = -s sigmoid(-m)
        n = x.shape[0]
        g = np.bincount(self.win, dm, minlength=n) - np.bincount(self.lose, dm, minlength=n)
        grad_a = (x.T @ g) / self.scale + self.direction_alpha * a
        coef = np.divide(g, norm, out=np.zeros_like(g), where=norm > 0)
        G = coef[:, None] * (b[None, :] - r[:, None] * x)  # d loss / d S, row by row
        grad_w = np.einsum("td,td->t", self.Ct @ G, self.T)
        grad_u = grad_w * w + self.alpha * u
        value = loss + 0.5 * self.alpha * float(u @ u) + 0.5 * self.direction_alpha * float(a @ a)
        return value / self.total, np.concatenate([grad_u, grad_a]) / self.total


# -- the fitted representation ---------------------------------------------------------------------


class RewardTunedStatic(BaseEstimator):
    """A static model re-weighted per token for the reward: ``x = normalise(C diag(w) T)``.

    Learns ``w_t = exp(u_t)`` for every token and a direction ``b`` by minimising the
    Bradley-Terry loss ``sum_p s_p log(1 + exp(-(b @ x_win - b @ x_lose)))`` plus
    ``alpha / 2 * ||u||^2`` and ``direction_alpha / 2 * ||b * scale_||^2`` (embrm's penalty
    convention, against the summed loss; ``scale_`` is the spread of each dimension of the base
    vectors, so ``direction_alpha`` means what ``BTLinear``'s ``alpha`` means), with exact
    gradients and L-BFGS. A text is the joint view ``"{prompt}\\n\\n{response}"``, read whole.

    Each L-BFGS step costs two sparse products of the token counts with a (vocabulary x
    dimensions) table, so one fit is a few minutes on tens of thousands of texts on one core.
    The tuned vectors feed any head; the head learns its own direction on them.

    Parameters
    ----------
    base : str, default="static"
        The static representation tuned (a name ``Encoder`` takes, e.g. ``"static"``, whose
        backend is a static model).
    alpha : float, default=100.0
        L2 penalty on the log-weights ``u`` (against the summed pair loss): pulls every weight
        towards 1. Smaller values let a few tokens (list markers, say) take very large weights.
    direction_alpha : float, default=1000.0
        L2 penalty on the direction, in standardised units.
    max_iter : int, default=100
        Most L-BFGS iterations.
    tol : float, default=1e-6
        L-BFGS stops when the largest entry of the weight-normalised gradient is below ``tol``.
    cache_dir : str or path, optional
        Where ``Encoder(base)`` finds the base model (default: the default cache).

    Attributes
    ----------
    weights_ : ndarray of shape (n_vocabulary,)
        ``w_t``, one per token of the base model's vocabulary (1 for tokens never seen in
        training).
    direction_ : ndarray of shape (dim,)
        ``b``, the reward direction learned with the weights (in the tuned vectors' units).
    scale_ : ndarray of shape (dim,)
        Spread of each dimension of the base vectors of the training texts.
    table_ : ndarray of shape (n_vocabulary, dim), float32
        The tuned table ``diag(w) T``.
    static_model_ : model2vec.StaticModel
        The tuned static model (the base tokenizer with ``table_``).
    base_identity_ : str
        The base representation's identity.
    n_texts_ : ndarray of shape (n_vocabulary,)
        In how many training texts each token occurs.
    n_iter_ : int
        L-BFGS iterations used.
    loss_ : float
        The final weight-normalised objective.

    Examples
    --------
    >>> from embrm.embed import RewardTunedStatic
    >>> tuned = RewardTunedStatic(max_iter=50).fit(pairs)  # doctest: +SKIP
    >>> X_win, X_lose = tuned.transform(pairs)  # doctest: +SKIP
    >>> tuned.top_tokens(5)  # doctest: +SKIP
    """

    def __init__(
        self,
        base: str = "static",
        alpha: float = 100.0,
        direction_alpha: float = 1000.0,
        max_iter: int = 100,
        tol: float = 1e-6,
        cache_dir: str | os.PathLike | None = None,
    ) -> None:
        self.base = base
        self.alpha = alpha
        self.direction_alpha = direction_alpha
        self.max_iter = max_iter
        self.tol = tol
        self.cache_dir = cache_dir

    def _base_model(self) -> tuple[Any, str]:
        from embrm.embed._encoder import Encoder  # the Encoder's registry lists this module's backend

        encoder = Encoder(self.base, cache_dir=self.cache_dir, show_progress=False)
        if not encoder.is_static or encoder.view != "joint":
            raise ValueError(
                f"RewardTunedStatic tunes a static model's joint view; base={self.base!r} is "
                f"{encoder.identity}. Pass base='static'."
            )
        return encoder.static_model, encoder.identity

    def _check_params(self) -> None:
        for name in ("alpha", "direction_alpha", "tol"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and np.isfinite(value) and value > 0):
                raise ValueError(
                    f"The {name!r} parameter of RewardTunedStatic must be a float > 0; got {value!r}."
                )
        if not (isinstance(self.max_iter, int) and self.max_iter >= 1):
            raise ValueError(
                f"The 'max_iter' parameter of RewardTunedStatic must be an int >= 1; got {self.max_iter!r}."
            )

    def fit(self, data: Any, pairs: Any = None) -> RewardTunedStatic:
        """Learn the token weights from the training pairs.

        Parameters
        ----------
        data : ScoredResponses or PreferencePairs
            The training part. For a scored set, ``pairs`` says which responses were compared.
        pairs : PreferencePairs, optional
            Scored sets: the training pairs, with ``chosen_index`` and ``rejected_index`` into
            ``data`` (what :func:`embrm.data.within_prompt_pairs` builds and
            ``cross_val_rewards`` passes). Ignored for ``PreferencePairs`` data.

        Returns
        -------
        self : RewardTunedStatic
        """
        self._check_params()
        model, identity = self._base_model()
        texts = _texts(data, _render)
        columns = _columns(data)
        if "chosen" in columns and "rejected" in columns:
            n = len(texts) // 2
            win, lose = np.arange(n), np.arange(n, 2 * n)
            weight = data.sample_weight
        else:
            pair_columns = _columns(pairs)
            if "chosen_index" not in pair_columns or "rejected_index" not in pair_columns:
                raise DataError(
                    "RewardTunedStatic.fit on a scored set needs its training pairs: pass pairs= "
                    "built from it (embrm.data.within_prompt_pairs), with chosen_index and "
                    "rejected_index into the scored set."
                )
            win = pairs.frame["chosen_index"].to_numpy().astype(np.int64)
            lose = pairs.frame["rejected_index"].to_numpy().astype(np.int64)
            if win.size and max(win.max(), lose.max()) >= len(texts):
                raise DataError(
                    f"The pairs index responses up to {max(win.max(), lose.max())} but the scored "
                    f"set has {len(texts)}: pass the pairs built from this scored set."
                )
            weight = pairs.sample_weight
        weight = np.ones(win.size) if weight is None else np.asarray(weight, dtype=np.float64)
        if win.size == 0 or weight.sum() <= 0:
            raise DataError("RewardTunedStatic.fit needs at least one training pair of positive weight.")
        used = np.unique(np.concatenate([win, lose]))  # only texts in a pair take part
        rows = np.full(len(texts), -1)
        rows[used] = np.arange(used.size)
        C = token_counts(model, [texts[i] for i in used])
        T = np.asarray(model.embedding, dtype=np.float64)
        x0, _ = _normalise(C @ T)
        scale = x0.std(axis=0)
        scale = np.where(scale > 1e-6 * max(scale.max(), 1e-300), scale, 1.0)
        objective = _Objective(
            C, T, rows[win], rows[lose], weight, scale, float(self.alpha), float(self.direction_alpha)
        )
        theta0 = np.zeros(T.shape[0] + T.shape[1])
        result = minimize(
            objective,
            theta0,
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": self.max_iter, "gtol": self.tol, "ftol": 0.0},
        )
        u, a = result.x[: T.shape[0]], result.x[T.shape[0] :]
        self._set_fitted(np.exp(u), a / scale, scale, T, model, identity)
        self.n_texts_ = np.bincount(C.indices, minlength=T.shape[0])
        self.n_iter_ = int(result.nit)
        self.loss_ = float(result.fun)
        return self

    def _set_fitted(
        self,
        weights: np.ndarray,
        direction: np.ndarray,
        scale: np.ndarray,
        T: np.ndarray,
        model: Any,
        identity: str,
    ) -> None:
        """Store the fitted state: the weights, the direction, the tuned table and model."""
        m2v = import_optional("model2vec", "The reward-tuned static model")
        self.weights_ = np.asarray(weights, dtype=np.float64)
        self.direction_ = np.asarray(direction, dtype=np.float64)
        self.scale_ = np.asarray(scale, dtype=np.float64)
        self.table_ = np.ascontiguousarray(T * self.weights_[:, None], dtype=np.float32)
        self.static_model_ = m2v.StaticModel(
            self.table_, model.tokenizer, normalize=True, max_length=None, config=dict(model.config)
        )
        self.static_model_.normalize = True
        self.base_identity_ = identity

    def _check_fitted(self) -> None:
        if not hasattr(self, "table_"):
            raise NotFittedError(
                "This RewardTunedStatic is not fitted yet: call fit on the training part first "
                "(cross_val_rewards does it inside each fold), or RewardTunedStatic.load a saved one."
            )

    def transform(self, data: Any) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """The tuned vectors of ``data``'s texts: ``normalise(C diag(w) T)``, float32.

        Parameters
        ----------
        data : ScoredResponses, PreferencePairs or list of str
            A list holds joint texts as they are (``prompt + "\\n\\n" + response``).

        Returns
        -------
        ndarray of shape (n, dim), or for PreferencePairs the tuple ``(X_win, X_lose)``. A text
        with no known token gives the zero vector.
        """
        self._check_fitted()
        texts = _texts(data, _render)
        x, _ = _normalise(token_counts(self.static_model_, texts) @ self.table_.astype(np.float64))
        x = x.astype(np.float32)
        columns = _columns(data)
        if "chosen" in columns and "rejected" in columns:
            n = len(texts) // 2
            return x[:n], x[n:]
        return x

    def fit_transform(self, data: Any, pairs: Any = None) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """``fit(data, pairs).transform(data)``."""
        return self.fit(data, pairs).transform(data)

    @property
    def identity(self) -> str:
        """The tuned model's identity: the base identity and a hash of the tuned table."""
        self._check_fitted()
        digest = hashlib.sha256(self.table_.tobytes()).hexdigest()[:12]
        return f"{self.base_identity_.split('+')[0]}-tuned{digest}"

    def top_tokens(self, k: int = 20) -> list[dict]:
        """The tokens with the largest and the smallest learned weights, among those seen in
        training (the others keep weight 1).

        Parameters
        ----------
        k : int, default=20
            How many of each end.

        Returns
        -------
        list of dict
            ``token``, ``weight`` (``w_t``), ``effect`` (``w_t * b @ T_t``, the token's pull on
            the learned reward before normalisation) and ``n_texts`` (training texts holding it),
            the ``k`` largest weights first (decreasing), then the ``k`` smallest (increasing).
        """
        self._check_fitted()
        seen = np.flatnonzero(getattr(self, "n_texts_", np.ones_like(self.weights_)) > 0)
        order = seen[np.argsort(-self.weights_[seen], kind="stable")]
        top, bottom = order[:k], order[::-1][: min(k, max(order.size - k, 0))]
        vocab = {i: t for t, i in self.static_model_.tokenizer.get_vocab().items()}
        effect = self.table_.astype(np.float64) @ self.direction_
        n_texts = getattr(self, "n_texts_", None)
        return [
            {
                "token": vocab.get(int(i), str(int(i))),
                "weight": float(self.weights_[i]),
                "effect": float(effect[i]),
                "n_texts": None if n_texts is None else int(n_texts[i]),
            }
            for i in [*top, *bottom]
        ]

    # -- files ------------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> Path:
        """Write the tuned model as a model2vec folder that ``Encoder(path)`` embeds with.

        The folder holds model2vec's files (the tuned table, the base tokenizer, its config),
        ``tuning.safetensors`` (weights, direction, scale) and ``embrm_model.json`` (kind, base
        identity, the tuned model's identity, parameters), with a checksum record. It is
        written beside ``path`` and moved into place in one rename; a folder already at
        ``path`` is replaced only if it holds a saved tuned model.

        Returns
        -------
        Path
            The folder.
        """
        self._check_fitted()
        from safetensors.numpy import save as safetensors_bytes

        out = Path(os.fspath(path)).expanduser().resolve()
        if out.exists() and not (is_tuned_static(out) or (out.is_dir() and not any(out.iterdir()))):
            raise DataError(f"{str(out)!r} exists and is not a saved tuned static model: give a new folder.")
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.saving-"))
        try:
            config = dict(self.static_model_.config)
            config.update(
                {"normalize": True, "embedding_dtype": "float32", "hidden_dim": int(self.table_.shape[1])}
            )
            atomic_write_bytes(
                staging / "model.safetensors",
                safetensors_bytes({"embeddings": self.table_}),
                what="the tuned model",
            )
            atomic_write_text(
                staging / "tokenizer.json", self.static_model_.tokenizer.to_str(), what="the tuned model"
            )
            atomic_write_text(staging / "config.json", json.dumps(config, indent=2), what="the tuned model")
            tuning = {"weights": self.weights_, "direction": self.direction_, "scale": self.scale_}
            if hasattr(self, "n_texts_"):
                tuning["n_texts"] = self.n_texts_.astype(np.int64)
            atomic_write_bytes(staging / TUNING_FILE, safetensors_bytes(tuning), what="the tuned model")
            record = {
                "kind": TUNED_KIND,
                "identity": self.identity,
                "base_identity": self.base_identity_,
                "dim": int(self.table_.shape[1]),
                "vocab_size": int(self.table_.shape[0]),
                "params": self.get_params(),
                "n_iter": getattr(self, "n_iter_", None),
                "loss": getattr(self, "loss_", None),
            }
            record["params"]["cache_dir"] = None if self.cache_dir is None else str(self.cache_dir)
            atomic_write_text(staging / STATIC_META, json.dumps(record, indent=2), what="the tuned model")
            record_checksums(staging)
            aside = None
            if out.exists():
                aside = out.with_name(f".{out.name}.replaced-{uuid.uuid4().hex}")
                os.replace(out, aside)
            try:
                os.replace(staging, out)
            except OSError:
                if aside is not None:
                    os.replace(aside, out)  # the saved model it was to replace stays
                raise
            fsync_folder(out.parent)
            if aside is not None:
                shutil.rmtree(aside, ignore_errors=True)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return out

    @classmethod
    def load(cls, path: str | os.PathLike) -> RewardTunedStatic:
        """A fitted :class:`RewardTunedStatic` from a folder :meth:`save` wrote (checked).

        Raises
        ------
        ModelLoadError
            When the folder is not a saved tuned model, or a file differs from its checksum.
        """
        from safetensors.numpy import load_file

        folder = Path(os.fspath(path)).expanduser()
        if not is_tuned_static(folder) or not is_complete_export(folder):
            raise ModelLoadError(
                f"{str(folder)!r} holds no saved tuned static model (no {STATIC_META} of kind "
                f"{TUNED_KIND!r} with a checksum record): save one with RewardTunedStatic.save."
            )
        model = load_static(folder)
        record = json.loads((folder / STATIC_META).read_text())
        tuning = load_file(str(folder / TUNING_FILE))
        tuned = cls(**{k: v for k, v in record["params"].items() if k in cls._get_param_names()})
        tuned.weights_ = tuning["weights"]
        tuned.direction_ = tuning["direction"]
        tuned.scale_ = tuning["scale"]
        if "n_texts" in tuning:
            tuned.n_texts_ = tuning["n_texts"]
        tuned.table_ = np.ascontiguousarray(model.embedding, dtype=np.float32)
        tuned.static_model_ = model
        tuned.base_identity_ = record["base_identity"]
        if record.get("n_iter") is not None:
            tuned.n_iter_ = int(record["n_iter"])
        if record.get("loss") is not None:
            tuned.loss_ = float(record["loss"])
        if tuned.identity != record["identity"]:
            raise ModelLoadError(f"The tuned model in {folder} does not match its recorded identity.")
        return tuned


# -- the backend that embeds with a saved tuned model ---------------------------------------------


class TunedStaticBackend(StaticBackend):
    """A saved :class:`RewardTunedStatic` folder as an :class:`~embrm.Encoder` backend.

    Embeds as the static model does (whole texts, ``joint`` or ``split`` view), with the
    tuned table; its vector cache identity is the tuned model's (the base identity and a
    hash of the tuned table), so two tunings never share cached vectors.

    Parameters
    ----------
    options : BackendOptions
        ``model`` the folder; ``view`` one of ``STATIC_VIEWS``.

    Example
    -------
    >>> Encoder(tuned.save("tuned-model")).encode_responses(["q"], ["a"])  # doctest: +SKIP
    """

    name = "static"

    @staticmethod
    def accepts(model: object) -> bool:
        """Whether ``model`` is a folder holding a saved tuned static model."""
        return is_tuned_static(model)

    described = "a tuned static model"

    def _locate(self, options: BackendOptions) -> tuple[Path, str, Path]:
        """The saved folder (its own source and model folder) and its vector cache identity."""
        model_dir = Path(os.fspath(options.model)).expanduser().resolve()
        self.record = json.loads((model_dir / STATIC_META).read_text())
        return model_dir, f"{self.record['identity']}-{options.variant}", model_dir

    @property
    def static_model(self):
        """The tuned ``model2vec.StaticModel``, its files checked."""
        if self._model is None:
            self._model = load_static(self.model_dir)
        return self._model

    def describe(self) -> dict:
        """Model, folder, base, dimensions, view and text format."""
        return {
            "backend": self.name,
            "model": self.record["identity"],
            "model_path": str(self.model_dir),
            "base": self.record["base_identity"],
            "variant": "fp32",
            "view": self.view,
            "dims": int(self.record["dim"]),
            "text_format": STATIC_TEXT_FORMAT if self.view == "joint" else RAW_TEXT_FORMAT,
        }
