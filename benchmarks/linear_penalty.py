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
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits
from train_heads import N_PAIRS, accuracy, real_data

from embrm import Encoder, load_dataset
from embrm.data import group_kfold, within_prompt_pairs
from embrm.heads import DRM, BTLinear, ClassifierHead

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


def held_out(make, X_win, X_lose, groups, folds, n_train=None) -> float:
    """Pooled held-out pairwise accuracy over ``folds`` (training part subsampled to ``n_train``)."""
    r_win, r_lose = np.empty(len(groups)), np.empty(len(groups))
    for tr, te in folds:
        if n_train is not None and n_train < tr.size:
            tr = np.random.RandomState(1).choice(tr, n_train, replace=False)
        head = make().fit(X_win[tr], X_lose[tr], groups=groups[tr])
        r_win[te], r_lose[te] = head.reward(X_win[te]), head.reward(X_lose[te])
    return accuracy(r_win, r_lose)


def noisy_held_out(make, noisy, clean, folds, n_train=None) -> float:
    """Pooled accuracy on the clean held-out pairs of ``folds`` of heads trained on the
    ``noisy`` pairs of the other folds' prompts (subsampled to ``n_train``)."""
    X_win, X_lose, groups = noisy
    cX_win, cX_lose, c_groups = clean
    r_win, r_lose = np.empty(len(c_groups)), np.empty(len(c_groups))
    for tr, te in folds:
        tr = np.flatnonzero(np.isin(groups, c_groups[tr]))
        if n_train is not None and n_train < tr.size:
            tr = np.random.RandomState(1).choice(tr, n_train, replace=False)
        head = make().fit(X_win[tr], X_lose[tr], groups=groups[tr])
        r_win[te], r_lose[te] = head.reward(cX_win[te]), head.reward(cX_lose[te])
    return accuracy(r_win, r_lose)


def noise_table(data_dir: str | None, clean) -> None:
    """Table 6: held-out accuracy on clean pairs of heads trained on noisy labels."""
    data = load_dataset("alpacaeval", data_dir)
    X = data.embed(Encoder(show_progress=False))
    per_prompt = int(np.ceil(N_PAIRS / data.frame["prompt_id"].n_unique()))
    X_win, X_lose, groups, folds = clean
    print(
        "\n| training pairs per fold | label error | head | "
        + " | ".join(f"alpha {a:g}" for a in NOISE_ALPHAS)
        + " |"
    )
    print("|---|---|---|" + "---|" * len(NOISE_ALPHAS))
    for beta in NOISE_BETAS:
        pairs = within_prompt_pairs(data, per_prompt, beta, random_state=0)
        frame = pairs.frame
        win, lose = frame["chosen_index"].to_numpy(), frame["rejected_index"].to_numpy()
        noisy = (X[win], X[lose], pairs.groups)
        error = frame["flipped"].mean()
        for n_train in (8000, None):
            for name, make in NOISE_HEADS.items():
                accs = [
                    noisy_held_out(
                        lambda a=a, make=make: make(alpha=a), noisy, (X_win, X_lose, groups), folds, n_train
                    )
                    for a in NOISE_ALPHAS
                ]
                print(
                    f"| {n_train or 'all'} | {error:.1%} (beta {beta}) | {name} | "
                    + " | ".join(f"{a:.4f}" for a in accs)
                    + " |",
                    flush=True,
                )


def pair_sets(data_dir: str | None):
    """(name, X_win, X_lose, groups, folds) for each data set and representation."""
    for model in ("minilm", "minilm+length"):
        X, win, lose, groups, _, _ = real_data(data_dir, 805, N_PAIRS, model)
        yield f"alpacaeval, {model}", X[win], X[lose], groups, list(group_kfold(groups, 5, random_state=0))
    hh = load_dataset("hh-harmless", data_dir)
    for model in ("minilm", "minilm+length"):
        X_win, X_lose = hh.embed(Encoder(model, show_progress=False))
        folds = list(group_kfold(hh.groups, 5, random_state=0))
        yield f"hh-harmless, {model}", X_win, X_lose, hh.groups, folds


def planted_cosines(data_dir: str | None) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "heads"))
    from _planted import make_preference_pairs

    prompt_ids = np.sort(np.random.RandomState(0).choice(805, size=40, replace=False))
    X = load_dataset("alpacaeval", data_dir).filter_prompts(prompt_ids).embed(Encoder(show_progress=False))
    print("\n| seed | " + " | ".join(SETTINGS) + " |\n|---|" + "---|" * len(SETTINGS))
    for seed in (0, 1, 2):
        planted = make_preference_pairs(X, 3000, random_state=seed)
        cells = []
        for kw in SETTINGS.values():
            coef = BTLinear(**kw).fit(planted.X_win, planted.X_lose).coef_
            cosine = coef @ planted.direction / np.linalg.norm(coef)
            correlation = np.corrcoef(X @ coef, X @ planted.direction)[0, 1]
            cells.append(f"cosine {cosine:.3f}, rewards r {correlation:.3f}")
        print(f"| {seed} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("EMBRM_DATA_DIR"))
    args = parser.parse_args()
    with threadpool_limits(1):
        print("| data | head | " + " | ".join(SETTINGS) + " |\n|---|---|" + "---|" * len(SETTINGS))
        by_size = None
        for name, X_win, X_lose, groups, folds in pair_sets(args.data_dir):
            for head, make in HEADS.items():
                accs = [
                    held_out(lambda make=make, kw=kw: make(**kw), X_win, X_lose, groups, folds)
                    for kw in SETTINGS.values()
                ]
                print(f"| {name} | {head} | " + " | ".join(f"{a:.4f}" for a in accs) + " |", flush=True)
            if name == "alpacaeval, minilm":
                by_size = (X_win, X_lose, groups, folds)
        print("\n| training pairs | " + " | ".join(f"alpha {a:g}" for a in ALPHAS) + " |")
        print("|---|" + "---|" * len(ALPHAS))
        for n in SIZES:
            accs = [held_out(lambda a=a: BTLinear(alpha=a), *by_size, n_train=n) for a in ALPHAS]
            print(f"| {n or 'all'} | " + " | ".join(f"{a:.4f}" for a in accs) + " |", flush=True)
        planted_cosines(args.data_dir)
        sets = {name: data for name, *data in pair_sets(args.data_dir)}
        print("\n| data | ClassifierHead(logistic), not centred | centred by prompt |\n|---|---|---|")
        for name in ("alpacaeval, minilm", "alpacaeval, minilm+length"):
            accs = [
                held_out(lambda c=c: ClassifierHead(center_by_group=c, random_state=0), *sets[name])
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
            n_train = round(np.mean([tr.size for tr, _ in sets[name][3]]))
            accs = [held_out(lambda a=w * n_train: DRM(alpha=a), *sets[name]) for w in DRM_WEIGHT_DECAYS]
            print(f"| {name} ({n_train}) | " + " | ".join(f"{a:.4f}" for a in accs) + " |", flush=True)
        noise_table(args.data_dir, sets["alpacaeval, minilm"])


if __name__ == "__main__":
    from _record import recorded

    with recorded(__file__):
        main()
