"""Tuning record: the penalties of the linear fits, and the classifier's centring.

Reproduces the numbers behind the defaults of ``BTLinear`` and ``ClassifierHead(logistic)``
(``standardize=True, alpha=1000``; before: raw features, ``alpha=10``), of the
classifier's ``center_by_group`` and of ``DRM``'s ``alpha`` per pair, quoted in their
docstrings and in ``docs/heads.md``. Six tables:

1. held-out accuracy, raw ``alpha=10`` against standardised ``alpha`` 300 and 1000, for
   both heads on AlpacaEval (the folds of ``train_heads.py``) and hh-harmless (all 2,307
   pairs, 5-fold by prompt), each with plain MiniLM and ``minilm+length``;
2. standardised BTLinear's ``alpha`` across training sizes (AlpacaEval folds, training
   part subsampled to 500 / 2,000 / 8,000 pairs or kept whole);
3. the planted-direction test of ``tests/heads/test_heads_real_data.py``: cosine of
   ``coef_`` with a planted reward direction over the 40 test prompts, 3,000 pairs, and the
   correlation of the head's rewards with the planted ones over those answers;
4. the logistic classifier with and without ``center_by_group`` (AlpacaEval; hh-harmless
   has one pair per prompt, which is never centred);
5. DRM's ``alpha`` per pair on the head weights, AlpacaEval and hh-harmless (MiniLM);
6. label noise against the penalty: BTLinear and the logistic classifier (raw and centred)
   at ``alpha`` 1000 to 30000, trained on the same AlpacaEval pairs labelled by a simulated
   Bradley-Terry annotator (``within_prompt_pairs(beta=...)``, as in experiment 3), all of
   them or 8,000 per fold, and scored on the clean held-out pairs of the benchmark folds.
   Does a classifier buy robustness to noise beyond what a stronger penalty gives BT?

Accuracy is pooled over the held-out pairs of all folds. Every number is seeded.

    python benchmarks/linear_penalty.py [--data-dir ../shared/data]   # ~8 min, warm cache
    python benchmarks/linear_penalty.py --n-prompts 160   # the same ~40k pairs from 160 prompts
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

import numpy as np
from sklearn.base import BaseEstimator, clone
from threadpoolctl import threadpool_limits
from train_heads import N_PAIRS, real_data

from embrm import Encoder, load_dataset
from embrm.data import within_prompt_pairs
from embrm.evaluate import pairwise_accuracy
from embrm.heads import DRM, BTLinear, ClassifierHead
from embrm.model_selection import cross_val_rewards, group_kfold
from embrm.testing import make_preference_pairs

SETTINGS: dict[str, dict] = {
    "raw, alpha 10": {"standardize": False, "alpha": 10.0},
    "standardised, alpha 300": {"alpha": 300.0},
    "standardised, alpha 1000": {"alpha": 1000.0},
}
HEADS: dict[str, Callable[..., object]] = {
    "BTLinear": BTLinear,
    "ClassifierHead(logistic, uncentred)": lambda **kw: ClassifierHead(
        center_by_group=False, random_state=0, **kw
    ),
}
SIZES = (500, 2000, 8000, None)
ALPHAS = (10.0, 100.0, 300.0, 1000.0, 3000.0)
DRM_WEIGHT_DECAYS = (0.0005, 0.002, 0.005, 0.01, 0.02)
NOISE_BETAS = (None, 1.0, 0.5)
NOISE_ALPHAS = (1000.0, 3000.0, 10000.0, 30000.0)
NOISE_HEADS: dict[str, Callable[..., object]] = {
    "BTLinear": BTLinear,
    "ClassifierHead(logistic, uncentred)": lambda **kw: ClassifierHead(
        center_by_group=False, random_state=0, **kw
    ),
    "ClassifierHead(logistic, centred)": lambda **kw: ClassifierHead(random_state=0, **kw),
}


class Subsampled(BaseEstimator):
    """Fit ``head`` on ``n_train`` of the training pairs (seeded), all of them when None."""

    def __init__(self, head, n_train: int | None = None):
        self.head = head
        self.n_train = n_train

    def fit(self, X_win, X_lose, sample_weight=None, groups=None):
        rows = np.arange(len(X_win))
        if self.n_train is not None and self.n_train < rows.size:
            rows = np.random.RandomState(1).choice(rows.size, self.n_train, replace=False)
        self.head_ = clone(self.head).fit(X_win[rows], X_lose[rows], groups=groups[rows])
        return self

    def reward(self, X):
        return self.head_.reward(X)


def held_out(head, pairs, X_win, X_lose, n_train=None) -> float:
    """Pooled held-out pairwise accuracy, 5 folds by prompt (training part subsampled to
    ``n_train``)."""
    result = cross_val_rewards(Subsampled(head, n_train), pairs, (X_win, X_lose), cv=5, random_state=0)
    return pairwise_accuracy(result.reward_win, result.reward_lose)


def noisy_held_out(head, noisy, clean, n_train=None) -> float:
    """Pooled accuracy on the clean held-out pairs of the 5 folds by prompt of heads trained
    on the ``noisy`` pairs of the other folds' prompts (subsampled to ``n_train``)."""
    noisy_pairs, X_win, X_lose = noisy
    clean_pairs, cX_win, cX_lose = clean
    folds = [
        (
            np.flatnonzero(~np.isin(noisy_pairs.groups, clean_pairs.groups[te])),
            np.flatnonzero(np.isin(noisy_pairs.groups, clean_pairs.groups[te])),
        )
        for _, te in group_kfold(clean_pairs.groups, 5, random_state=0)
    ]
    result = cross_val_rewards(Subsampled(head, n_train), noisy_pairs, (X_win, X_lose), cv=folds)
    return pairwise_accuracy(
        result.reward_held_out(cX_win, clean_pairs.groups),
        result.reward_held_out(cX_lose, clean_pairs.groups),
    )


def noise_table(data_dir: str | None, clean, n_prompts: int = 805) -> None:
    """Table 6: held-out accuracy on clean pairs of heads trained on noisy labels."""
    data = load_dataset("alpacaeval", data_dir).filter_prompts(prompt_subset(n_prompts))
    X = data.embed(Encoder(show_progress=False))
    per_prompt = int(np.ceil(N_PAIRS / data.frame["prompt_id"].n_unique()))
    print(
        "\n| training pairs per fold | label error | head | "
        + " | ".join(f"alpha {a:g}" for a in NOISE_ALPHAS)
        + " |"
    )
    print("|---|---|---|" + "---|" * len(NOISE_ALPHAS))
    for beta in NOISE_BETAS:
        pairs = within_prompt_pairs(data, per_prompt, beta, random_state=0)
        noisy = (pairs, *pairs.gather(X))
        error = pairs.label_error_rate
        for n_train in (8000, None):
            for name, make in NOISE_HEADS.items():
                accs = [noisy_held_out(make(alpha=a), noisy, clean, n_train) for a in NOISE_ALPHAS]
                print(
                    f"| {n_train or 'all'} | {error:.1%} (beta {beta}) | {name} | "
                    + " | ".join(f"{a:.4f}" for a in accs)
                    + " |",
                    flush=True,
                )


def prompt_subset(n_prompts: int) -> np.ndarray:
    """The AlpacaEval prompts ``train_heads.py --n-prompts`` takes (all 805 by default)."""
    return np.sort(np.random.RandomState(0).permutation(805)[:n_prompts])


def pair_sets(data_dir: str | None, n_prompts: int = 805):
    """(name, pairs, X_win, X_lose) for each data set and representation."""
    for model in ("minilm", "minilm+length"):
        pairs, X_win, X_lose, _, _ = real_data(data_dir, n_prompts, N_PAIRS, model)
        yield f"alpacaeval, {model}", pairs, X_win, X_lose
    hh = load_dataset("hh-harmless", data_dir)
    for model in ("minilm", "minilm+length"):
        yield f"hh-harmless, {model}", hh, *hh.embed(Encoder(model, show_progress=False))


def planted_cosines(data_dir: str | None) -> None:
    prompt_ids = np.sort(np.random.RandomState(0).choice(805, size=40, replace=False))
    X = load_dataset("alpacaeval", data_dir).filter_prompts(prompt_ids).embed(Encoder(show_progress=False))
    print("\n| seed | " + " | ".join(SETTINGS) + " |\n|---|" + "---|" * len(SETTINGS))
    for seed in (0, 1, 2):
        planted = make_preference_pairs(3000, X=X, random_state=seed)
        cells = []
        for kw in SETTINGS.values():
            coef = BTLinear(**kw).fit(planted.X_win, planted.X_lose).coef_
            cosine = coef @ planted.coef / np.linalg.norm(coef)
            correlation = np.corrcoef(X @ coef, X @ planted.coef)[0, 1]
            cells.append(f"cosine {cosine:.3f}, rewards r {correlation:.3f}")
        print(f"| {seed} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("EMBRM_DATA_DIR"))
    parser.add_argument(
        "--n-prompts",
        type=int,
        default=805,
        help="AlpacaEval prompts (the seeded subset of train_heads.py --n-prompts; still ~40k pairs)",
    )
    args = parser.parse_args()
    with threadpool_limits(1):
        print("| data | head | " + " | ".join(SETTINGS) + " |\n|---|---|" + "---|" * len(SETTINGS))
        by_size = None
        for name, *data in pair_sets(args.data_dir, args.n_prompts):
            for head, make in HEADS.items():
                accs = [held_out(make(**kw), *data) for kw in SETTINGS.values()]
                print(f"| {name} | {head} | " + " | ".join(f"{a:.4f}" for a in accs) + " |", flush=True)
            if name == "alpacaeval, minilm":
                by_size = data
        print("\n| training pairs | " + " | ".join(f"alpha {a:g}" for a in ALPHAS) + " |")
        print("|---|" + "---|" * len(ALPHAS))
        for n in SIZES:
            accs = [held_out(BTLinear(alpha=a), *by_size, n_train=n) for a in ALPHAS]
            print(f"| {n or 'all'} | " + " | ".join(f"{a:.4f}" for a in accs) + " |", flush=True)
        planted_cosines(args.data_dir)
        sets = {name: data for name, *data in pair_sets(args.data_dir, args.n_prompts)}
        print("\n| data | ClassifierHead(logistic), not centred | centred by prompt |\n|---|---|---|")
        for name in ("alpacaeval, minilm", "alpacaeval, minilm+length"):
            accs = [
                held_out(ClassifierHead(center_by_group=c, random_state=0), *sets[name])
                for c in (False, True)
            ]
            print(f"| {name} | " + " | ".join(f"{a:.4f}" for a in accs) + " |", flush=True)
        print(
            "\n| data (training pairs per fold) | "
            + " | ".join(f"DRM alpha per pair {w:g}" for w in DRM_WEIGHT_DECAYS)
            + " |"
        )
        print("|---|" + "---|" * len(DRM_WEIGHT_DECAYS))
        for name in ("alpacaeval, minilm", "hh-harmless, minilm"):
            n_train = round(0.8 * len(sets[name][0]))
            accs = [held_out(DRM(alpha=w * n_train), *sets[name]) for w in DRM_WEIGHT_DECAYS]
            print(f"| {name} ({n_train}) | " + " | ".join(f"{a:.4f}" for a in accs) + " |", flush=True)
        noise_table(args.data_dir, sets["alpacaeval, minilm"], args.n_prompts)


if __name__ == "__main__":
    from _record import recorded

    with recorded(__file__):
        main()
