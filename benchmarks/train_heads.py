"""Benchmark: train every embrm head on ~40k real pairs; compare with a PyTorch reference.

Data: AlpacaEval (51 LLM answers per prompt, judged against a fixed reference). Each answer
is embedded once with the default encoder (all-MiniLM-L6-v2, 384-d) through the embrm
cache; pairs are drawn within prompts and labelled by the judge's golden score without
noise (``embrm.data.within_prompt_pairs``). Five folds by prompt (``--folds``): every head
(and the reference) is fitted on four and scores the fifth, so every pair is held out once.

For each head: mean wall time of ``fit`` (on 80% of the pairs) beside the issue's target
time, pooled held-out pairwise accuracy, and its difference from the reference's on the same
pairs with a 95% CI (paired bootstrap over prompts): a single 80/20 split was too noisy to
compare heads that differ by half a point. The baselines on the same pairs: the
response-length rule and a PyTorch MLP reward trained the usual way (d -> 1024 -> 512 -> 1,
Adam lr 1e-3, 30 epochs of minibatches of 10,240 pairs drawn with replacement,
Bradley-Terry loss, last epoch kept), the reference every difference is taken from; and
the same recipe with the classification heads' pointwise loss (preferred 1, other 0).

    python benchmarks/train_heads.py [--data-dir ../shared/data] [--n-prompts 805]
    python benchmarks/train_heads.py --synthetic   # Gaussian data of the same shape
    python benchmarks/train_heads.py --model minilm+length   # + explicit length features
    python benchmarks/train_heads.py --heads BTMLP --no-reference --folds 3   # a quick subset

``--n-prompts`` takes a fixed seeded subset of prompts (embedding all 41k answers takes
~1 h on 2 CPU cores the first time; the cache makes later runs instant). embrm heads fit
single-threaded (BLAS limited to 1 thread, LightGBM ``n_jobs=1``); PyTorch uses
``--torch-threads`` (default 2, all cores here).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from functools import partial

import numpy as np
import polars as pl
from sklearn.base import BaseEstimator
from threadpoolctl import threadpool_info

from embrm.data import PreferencePairs
from embrm.evaluate import compare_pairs, pairwise_accuracy
from embrm.heads import BTMLP, DRM, BTLinear, ClassifierHead, Ensemble, LGBMHead
from embrm.model_selection import CrossValRewards, cross_val_rewards

N_PAIRS = 40_000

#: name -> (factory, target seconds on 2 CPU cores)
HEADS: dict[str, tuple[Callable[[], object], float | None]] = {
    "BTLinear": (lambda: BTLinear(), 2.0),
    "ClassifierHead(logistic)": (lambda: ClassifierHead(random_state=0), 2.0),
    "DRM": (lambda: DRM(), 2.0),
    "Ensemble(10 x BTLinear)": (lambda: Ensemble(BTLinear(), 10, random_state=0), 10.0),
    "BTMLP": (lambda: BTMLP(random_state=0), 30.0),
    "ClassifierHead(mlp)": (lambda: ClassifierHead(model="mlp", random_state=0), None),
    "LGBMHead": (lambda: LGBMHead(random_state=0), 60.0),
    "LGBMHead(pairwise)": (lambda: LGBMHead(objective="pairwise", random_state=0), 60.0),
    # The classification heads uncentred (the classification papers' form).
    "ClassifierHead(logistic, uncentred)": (
        lambda: ClassifierHead(center_by_group=False, random_state=0),
        2.0,
    ),
    "ClassifierHead(mlp, uncentred)": (
        lambda: ClassifierHead(model="mlp", center_by_group=False, linear_base=False, random_state=0),
        None,
    ),
    "LGBMHead(uncentred base)": (lambda: LGBMHead(center_by_group=False, random_state=0), 60.0),
}


def real_data(
    data_dir: str | None, n_prompts: int, n_pairs: int, model: str
) -> tuple[PreferencePairs, np.ndarray, np.ndarray, np.ndarray | None, str]:
    """Embedded AlpacaEval pairs: the pairs, their two embedding arrays, the response lengths
    (as a (chosen, rejected) column pair), a description."""
    from embrm import Encoder, load_dataset
    from embrm.data import within_prompt_pairs

    data = load_dataset("alpacaeval", data_dir)
    prompt_ids = np.sort(np.random.RandomState(0).permutation(805)[:n_prompts])
    data = data.filter_prompts(prompt_ids)
    encoder = Encoder(model, show_progress=True)
    t0 = time.perf_counter()
    X = data.embed(encoder)
    print(f"embeddings: {X.shape} in {time.perf_counter() - t0:.1f} s ({encoder.last_stats})")
    per_prompt = int(np.ceil(n_pairs / n_prompts))
    pairs = within_prompt_pairs(data, pairs_per_prompt=per_prompt, random_state=0)
    length = np.column_stack(pairs.gather(data.frame["response"].str.len_chars().to_numpy()))
    X_win, X_lose = pairs.gather(X)
    return (
        pairs,
        X_win,
        X_lose,
        length,
        f"alpacaeval, {n_prompts} prompts, {len(pairs)} noiseless within-prompt pairs, "
        f"encoder {encoder.identity}",
    )


def synthetic_data(n_prompts: int, n_pairs: int) -> tuple[PreferencePairs, np.ndarray, np.ndarray, None, str]:
    """Gaussian unit-norm 384-d 'answers', 51 per prompt, BT-labelled within prompts."""
    rng = np.random.RandomState(0)
    d, k = 384, 51
    mixing = rng.standard_normal((d, d)) / np.arange(1, d + 1) ** 0.7
    prompt_mean = rng.standard_normal((n_prompts, d)) @ mixing.T
    Z = np.repeat(prompt_mean, k, axis=0) + 0.5 * rng.standard_normal((n_prompts * k, d)) @ mixing.T
    X = (Z / np.linalg.norm(Z, axis=1, keepdims=True)).astype(np.float32)
    u = mixing @ rng.standard_normal(d)
    reward = X @ u + 0.5 * np.sin(3 * X @ rng.standard_normal(d))
    groups_rows = np.repeat(np.arange(n_prompts), k)
    per_prompt = int(np.ceil(n_pairs / n_prompts))
    i = np.repeat(np.arange(n_prompts) * k, per_prompt) + rng.randint(k, size=n_prompts * per_prompt)
    j = np.repeat(np.arange(n_prompts) * k, per_prompt) + rng.randint(k, size=n_prompts * per_prompt)
    keep = i != j
    i, j = i[keep], j[keep]
    margin = reward[i] - reward[j]
    i_wins = rng.rand(i.size) < 1 / (1 + np.exp(-3 * margin / margin.std()))
    win, lose = np.where(i_wins, i, j), np.where(i_wins, j, i)
    frame = pl.DataFrame(
        {
            "prompt": [f"prompt {g}" for g in groups_rows[win]],
            "chosen": [f"answer {r}" for r in win],
            "rejected": [f"answer {r}" for r in lose],
            "group": groups_rows[win],
        }
    )
    return PreferencePairs(frame), X[win], X[lose], None, f"synthetic Gaussian, {win.size} pairs"


def torch_reference(
    X_win: np.ndarray, X_lose: np.ndarray, epochs: int, threads: int, pointwise: bool = False, seed: int = 0
) -> Callable[[np.ndarray], np.ndarray]:
    """The reference recipe: MLP reward, Adam, batches drawn with replacement; the BT loss,
    or with ``pointwise`` the classification loss (each response on its own: preferred 1,
    other 0)."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.RandomState(seed)
    d = X_win.shape[1]
    model = torch.nn.Sequential(
        torch.nn.Linear(d, 1024),
        torch.nn.ReLU(),
        torch.nn.Linear(1024, 512),
        torch.nn.ReLU(),
        torch.nn.Linear(512, 1),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    # 20% validation split of the pairs (monitored only: the last epoch is kept).
    n = X_win.shape[0]
    order = rng.permutation(n)
    train = order[: int(0.8 * n)]
    A, B = torch.from_numpy(X_win[train]), torch.from_numpy(X_lose[train])
    batch = 10240
    for _ in range(epochs):
        for _ in range(max(1, len(train) // batch)):
            idx = torch.from_numpy(rng.randint(len(train), size=batch))
            if pointwise:
                logsig = torch.nn.functional.logsigmoid
                loss = -(logsig(model(A[idx])).mean() + logsig(-model(B[idx])).mean()) / 2
            else:
                loss = -torch.nn.functional.logsigmoid(model(A[idx]) - model(B[idx])).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

    def reward(X: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(np.ascontiguousarray(X))).numpy()[:, 0]

    return reward


class TorchReference(BaseEstimator):
    """The PyTorch reference recipe as a head (``fit`` / ``reward``), so it is cross-fitted
    on the same folds as embrm's heads."""

    def __init__(self, epochs: int = 30, threads: int = 2, pointwise: bool = False, seed: int = 0):
        self.epochs = epochs
        self.threads = threads
        self.pointwise = pointwise
        self.seed = seed

    def fit(self, X_win, X_lose, sample_weight=None, groups=None):
        self.reward_ = torch_reference(X_win, X_lose, self.epochs, self.threads, self.pointwise, self.seed)
        return self

    def reward(self, X: np.ndarray) -> np.ndarray:
        return self.reward_(X)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("EMBRM_DATA_DIR"))
    parser.add_argument("--synthetic", action="store_true")
    parser.add_argument(
        "--model", default="minilm", help="representation (e.g. minilm+length: MiniLM plus log length)"
    )
    parser.add_argument("--n-prompts", type=int, default=805)
    parser.add_argument("--n-pairs", type=int, default=N_PAIRS)
    parser.add_argument("--folds", type=int, default=5, help="K of the K-fold split by prompt (>= 2)")
    parser.add_argument("--torch-threads", type=int, default=2)
    parser.add_argument("--reference-epochs", type=int, default=30)
    parser.add_argument("--no-reference", action="store_true", help="skip the PyTorch run")
    parser.add_argument("--heads", nargs="*", default=list(HEADS), choices=list(HEADS))
    args = parser.parse_args()
    if args.folds < 2:
        parser.error(f"--folds must be at least 2, got {args.folds}")

    if args.synthetic:
        pairs, X_win, X_lose, length, what = synthetic_data(args.n_prompts, args.n_pairs)
    else:
        pairs, X_win, X_lose, length, what = real_data(
            args.data_dir, args.n_prompts, args.n_pairs, args.model
        )
    blas = sorted({f"{i['internal_api']}={i['num_threads']}" for i in threadpool_info()})
    print(f"data: {what}; {args.folds}-fold split by prompt, each pair held out once")
    print(
        f"cores: {os.cpu_count()}; default thread pools: {', '.join(blas)}; embrm heads fit "
        f"with 1 BLAS thread, LightGBM n_jobs=1; PyTorch {args.torch_threads} threads"
    )
    factories = {name: HEADS[name][0] for name in args.heads}
    reference = f"PyTorch reference MLP ({args.reference_epochs} ep)"
    pointwise_reference = f"PyTorch reference MLP, pointwise ({args.reference_epochs} ep)"
    if not args.no_reference:
        for name, pointwise in ((reference, False), (pointwise_reference, True)):
            factories[name] = partial(TorchReference, args.reference_epochs, args.torch_threads, pointwise)
    results = {}
    for name, make in factories.items():
        results[name] = cross_val_rewards(make(), pairs, (X_win, X_lose), cv=args.folds, random_state=0)
        print(f"  {name}: {results[name].fit_seconds:.2f} s a fold ({args.folds} folds)", flush=True)
    print_table(results, reference if not args.no_reference else None, pairs.groups, length)


def accuracy_verdict(ci_low: float, ci_high: float) -> str:
    """The head's accuracy against the reference's, read from the CI of the difference."""
    if ci_high < 0:
        return "acc BELOW reference"
    if ci_low > 0:
        return "acc above reference"
    return "acc = reference (CI holds 0)"


def print_table(
    results: dict[str, CrossValRewards],
    reference: str | None,
    groups: np.ndarray,
    length: np.ndarray | None,
) -> None:
    """One row a head: mean fit time, pooled held-out accuracy, difference from the reference."""
    names = list(results)
    r_win = {name: r.reward_win for name, r in results.items()}
    r_lose = {name: r.reward_lose for name, r in results.items()}
    seconds = {name: r.fit_seconds for name, r in results.items()}
    if length is not None:
        names = ["length baseline", *names]
        r_win = {"length baseline": length[:, 0], **r_win}
        r_lose = {"length baseline": length[:, 1], **r_lose}
    # A markdown table: scripts/make_results.py reads the README headline's cells from it.
    print("\n| head | fit s | acc | vs reference [95% CI] | verdict |\n|---|---|---|---|---|")
    for name in names:
        acc = pairwise_accuracy(r_win[name], r_lose[name])
        fit = f"{seconds[name]:.2f}" if name in seconds else ""
        versus, verdict = "", []
        if reference is not None and name != reference:
            diff = compare_pairs(
                r_win[name], r_lose[name], r_win[reference], r_lose[reference], groups, random_state=0
            ).row(0, named=True)
            versus = f"{diff['value']:+.4f} [{diff['ci_low']:+.4f}, {diff['ci_high']:+.4f}]"
            if name in HEADS:
                verdict.append(accuracy_verdict(diff["ci_low"], diff["ci_high"]))
        target = HEADS[name][1] if name in HEADS else None
        if target is not None:
            verdict.insert(0, f"<= {target:g} s {'ok' if seconds[name] <= target else 'MISSED'}")
        print(f"| {name} | {fit} | {acc:.4f} | {versus} | {'; '.join(verdict)} |")
    if reference is not None:
        print(
            "\nvs reference: accuracy minus the reference's on the same pairs, 95% CI from a paired "
            "bootstrap over prompts; 'below' / 'above' when the whole CI is on one side of zero."
        )


if __name__ == "__main__":
    from _record import recorded

    with recorded(__file__):
        main()
