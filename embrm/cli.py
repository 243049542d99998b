"""The ``embrm`` command line: thin commands over the library's functions."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import __version__
from .exceptions import EmbrmError


def _print_rows(rows: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


#: The representation the commands use unless ``--model`` names another: the static model
#: distilled from MiniLM (see docs/representations.md for why); ``--model minilm`` for the transformer.
DEFAULT_REPRESENTATION = "static"
QUANTIZE_HELP = "the int8 variant of an ONNX model; the default model then is minilm"
MODEL_HELP = (
    "a named representation (see `embrm doctor`: minilm, minilm-windows, minilm-split, "
    "minilm+length, static, static-split, static+minilm, smollm2-mean, smollm2-last), "
    "a sentence-transformers or causal-LM folder, "
    f"a .gguf file, or a hub id (default: {DEFAULT_REPRESENTATION}; minilm for the transformer)"
)


def _encoder(args: argparse.Namespace):
    from .embed import Encoder

    quantize = getattr(args, "quantize", False)
    # --quantize is the ONNX transformer's int8 variant: without --model it means minilm
    default = "minilm" if quantize else DEFAULT_REPRESENTATION
    return Encoder(
        model=getattr(args, "model", None) or default,
        cache_dir=args.cache_dir,
        device=getattr(args, "device", None),
        quantize=quantize,
    )


def _load(name_or_path: str, data_dir: str | None):
    """A built-in data set by name, or a file (pairs if it has chosen/rejected)."""
    from .data import DATASETS, load_dataset, read_any

    if name_or_path in DATASETS:
        return load_dataset(name_or_path, data_dir)
    if Path(name_or_path).is_file():
        return read_any(name_or_path)
    raise EmbrmError(f"{name_or_path!r} is neither a built-in data set ({', '.join(DATASETS)}) nor a file.")


def cmd_doctor(args: argparse.Namespace) -> None:
    from ._doctor import doctor_report

    _print_rows(doctor_report(args.cache_dir, args.data_dir))


def cmd_datasets(args: argparse.Namespace) -> None:
    from .data import DATASETS, data_dir

    root = data_dir(args.data_dir)
    print(f"data dir: {root or 'not set (EMBRM_DATA_DIR or --data-dir)'}")
    for name, info in DATASETS.items():
        path = root / info.filename if root else None
        where = f"{path} ({path.stat().st_size / 1e6:.1f} MB)" if path and path.is_file() else "MISSING"
        print(
            f"\n{name}  [{info.kind}]  {where}\n  {info.description}\n  source: {info.upstream}"
            f"\n  licence: {info.licence}"
        )


def cmd_embed(args: argparse.Namespace) -> None:
    data = _load(args.data, args.data_dir)
    if args.limit:
        data = data.take(range(min(args.limit, len(data))))
    encoder = _encoder(args)
    start = time.perf_counter()
    data.embed(encoder)
    seconds = time.perf_counter() - start
    stats = encoder.last_stats
    total = stats["texts"]
    print(
        f"{args.data}: {total} texts under {encoder.identity}: {stats['new']} new, "
        f"{stats['cached']} from cache, {seconds:.1f} s"
        + (f" ({stats['new'] / seconds:.1f} new texts/s)" if stats["new"] else "")
    )


def cmd_cache_info(args: argparse.Namespace) -> None:
    from .embed import VectorCache, cached_identities, default_cache_dir

    root = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    print(f"cache dir: {root}")
    identities = cached_identities(root)
    if not identities:
        print("no cached vectors yet")
    for identity in identities:
        info = VectorCache(root, identity).info()
        print(
            f"{identity}: {info['vectors']} vectors of dim {info['dim']} in "
            f"{info['shards']} shards, {info['bytes'] / 1e6:.1f} MB"
        )


def cmd_cache_verify(args: argparse.Namespace) -> int:
    from .embed import VectorCache, cached_identities, default_cache_dir

    root = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    bad = 0
    for identity in cached_identities(root):
        report = VectorCache(root, identity).verify(repair=args.repair)
        state = "ok" if report.ok else ("repaired" if report.repaired else "PROBLEMS")
        print(f"{identity}: {report.n_vectors} vectors, {report.n_shards} shards: {state}")
        for name in report.corrupt:
            print(f"  corrupt shard: {name}")
        for name in report.orphans:
            print(f"  unindexed file: {name}")
        bad += not report.ok and not report.repaired
    if bad:
        print(
            f"Run `embrm cache verify --repair --cache-dir {root}` to drop the bad shards; "
            "their texts are re-embedded on next use."
        )
    return 1 if bad else 0


def _print_report(report) -> None:
    for row in report.iter_rows(named=True):
        interval = f"  [{row['ci_low']:.4f}, {row['ci_high']:.4f}]" if row["ci_low"] is not None else ""
        print(f"{row['metric']:<24} {row['value']:10.4f}{interval}")


def cmd_train(args: argparse.Namespace) -> None:
    from .heads import HEADS
    from .workflow import train_held_out

    data = _load(args.data, args.data_dir)
    head = HEADS[args.head]()
    if "random_state" in head.get_params(deep=False):
        head.set_params(random_state=args.random_state)
    result = train_held_out(
        head,
        data,
        _encoder(args),
        test_size=args.test_size,
        pairs_per_prompt=args.pairs_per_prompt,
        beta=args.beta,
        random_state=args.random_state,
    )
    print(
        f"{args.head} on {args.data}: fit on {result.n_train_pairs} pairs in {result.fit_seconds:.2f} s; "
        f"held-out pairwise accuracy {result.accuracy:.4f} on {result.n_test_pairs} pairs "
        f"({args.test_size:.0%} of prompts held out)"
    )
    _print_report(result.report)
    if args.out:
        result.head.save(args.out)
        print(f"saved to {args.out}")


def _load_head(args: argparse.Namespace):
    from .heads import load

    encoder = _encoder(args)
    return load(args.head, expected_encoder_id=encoder.identity), encoder


def cmd_reward(args: argparse.Namespace) -> None:
    from .workflow import reward_frame

    head, encoder = _load_head(args)
    frame = reward_frame(head, _load(args.data, args.data_dir), encoder)
    out = Path(args.out)
    if out.suffix.lower() == ".csv":
        frame.write_csv(out)
    elif out.suffix.lower() == ".parquet":
        frame.write_parquet(out)
    else:
        raise EmbrmError(f"--out must end in .parquet or .csv, got {out.name!r}.")
    print(f"wrote {frame.height} rows with rewards to {out}")


def cmd_eval(args: argparse.Namespace) -> None:
    from .data import ScoredResponses
    from .evaluate import BestOfNDisplay, evaluate_pairs, evaluate_rewards

    head, encoder = _load_head(args)
    data = _load(args.data, args.data_dir)
    if isinstance(data, ScoredResponses):
        reward = head.reward(data.embed(encoder))
        _print_report(evaluate_rewards(reward, data.scores, data.groups, random_state=args.random_state))
        if args.plot:
            display = BestOfNDisplay.from_predictions(
                reward, data.scores, data.groups, n_bootstrap=200, name=Path(args.head).stem
            )
            display.figure_.savefig(args.plot, dpi=120, bbox_inches="tight")
            print(f"Best-of-N curve written to {args.plot}")
        return
    if args.plot:
        raise EmbrmError("--plot draws a Best-of-N curve, which needs scored responses, not pairs.")
    X_win, X_lose = data.embed(encoder)
    _print_report(
        evaluate_pairs(
            head.reward(X_win),
            head.reward(X_lose),
            data.groups,
            proba=head.predict_proba(X_win, X_lose),
            random_state=args.random_state,
        )
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``embrm`` command."""
    parser = argparse.ArgumentParser(prog="embrm", description=__doc__)
    parser.add_argument("--version", action="version", version=f"embrm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        p.add_argument("--cache-dir", help="embedding cache (default $EMBRM_CACHE_DIR or ~/.cache/embrm)")
        p.add_argument("--data-dir", help="folder of the built-in data sets (default $EMBRM_DATA_DIR)")
        return p

    add("doctor", cmd_doctor, "Installed packages, devices, real providers, cache and data.")
    add("datasets", cmd_datasets, "Built-in data sets: where they are, how big, their source.")
    p = add("embed", cmd_embed, "Embed a data set (or file) into the cache.")
    p.add_argument("data", help="built-in data set name or a Parquet/JSONL/CSV file")
    p.add_argument("--model", help=MODEL_HELP)
    p.add_argument("--quantize", action="store_true", help=QUANTIZE_HELP)
    p.add_argument("--device", choices=["cpu", "cuda"], help="default: CUDA when usable")
    p.add_argument("--limit", type=int, help="only the first N rows")

    from .heads import HEADS

    p = add("train", cmd_train, "Train a head with a prompt-grouped held-out split; print its accuracy.")
    p.add_argument("data", help="built-in data set name or a Parquet/JSONL/CSV file")
    p.add_argument("--head", choices=sorted(HEADS), default="bt-linear")
    p.add_argument("--out", help="save the fitted head here (portable .npz + JSON)")
    p.add_argument("--test-size", type=float, default=0.2, help="share of prompts held out")
    p.add_argument("--pairs-per-prompt", type=int, default=50, help="for scored data: pairs per prompt")
    p.add_argument(
        "--beta", type=float, help="for scored data: simulated annotation quality (default noiseless)"
    )
    p.add_argument("--random-state", type=int, default=0)
    p.add_argument("--model", help=MODEL_HELP)
    p.add_argument("--quantize", action="store_true", help=QUANTIZE_HELP)
    for name, func, help_ in (
        ("reward", cmd_reward, "Write a saved head's rewards for a data set to Parquet/CSV."),
        ("eval", cmd_eval, "Evaluate a saved head on a data set: metrics with bootstrap intervals."),
    ):
        p = add(name, func, help_)
        p.add_argument("head", help="a head saved by `embrm train --out`")
        p.add_argument("data", help="built-in data set name or a Parquet/JSONL/CSV file")
        p.add_argument(
            "--model",
            help=f"the representation the head was trained with (default {DEFAULT_REPRESENTATION})",
        )
        p.add_argument(
            "--quantize", action="store_true", help=f"the head was trained on int8 vectors ({QUANTIZE_HELP})"
        )
        if name == "reward":
            p.add_argument("--out", required=True, help="output .parquet or .csv")
        else:
            p.add_argument("--plot", help="write the Best-of-N curve as PNG (scored data)")
            p.add_argument("--random-state", type=int, default=0, help="bootstrap seed")

    cache = sub.add_parser("cache", help="Inspect or verify the embedding cache.")
    cache_sub = cache.add_subparsers(dest="cache_command", required=True)
    for name, func, help_ in (
        ("info", cmd_cache_info, "Vectors, shards and size per model identity."),
        ("verify", cmd_cache_verify, "Check every shard's checksum."),
    ):
        p = cache_sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        p.add_argument("--cache-dir", help="embedding cache (default $EMBRM_CACHE_DIR)")
        if name == "verify":
            p.add_argument("--repair", action="store_true", help="drop corrupt shards and stray files")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``embrm`` command."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except (EmbrmError, FileNotFoundError, ImportError, KeyError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"embrm {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
