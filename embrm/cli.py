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
    from .active import is_labels_file, labelled_pairs, read_labels

    if is_labels_file(name_or_path):  # a filled query file of `embrm select`
        return labelled_pairs(read_labels(name_or_path), name=Path(name_or_path).stem)
    if Path(name_or_path).is_file():
        return read_any(name_or_path)
    raise EmbrmError(f"{name_or_path!r} is neither a built-in data set ({', '.join(DATASETS)}) nor a file.")


def cmd_doctor(args: argparse.Namespace) -> None:
    from ._doctor import doctor_report

    _print_rows(doctor_report(args.cache_dir, args.data_dir))


def cmd_datasets(args: argparse.Namespace) -> None:
    from .data import DATASETS
    from .data._datasets import data_dir

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
    if args.engine == "ray":
        from .embed import RayEncoder

        encoder = RayEncoder(
            model=args.model,
            cache_dir=args.cache_dir,
            device=args.device,
            quantize=args.quantize,
            address=args.address,
            num_workers=args.workers,
        )
    else:
        if args.address or args.workers:
            raise EmbrmError("--address and --workers apply to --engine ray only.")
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
        + (
            f" on {run['workers']} Ray {run['device']} workers"
            if (run := getattr(encoder, "last_run", None))
            else ""
        )
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
        if report.manifest != "ok":
            print(
                f"  manifest: {report.manifest}"
                + (" (rebuilt from verified shards)" if report.repaired else "")
            )
        for name in report.invalid:
            print(f"  invalid manifest entry (never read or removed): {name}")
        for label, names in (
            ("corrupt shard", report.corrupt),
            ("unverifiable shard (no intact commit record)", report.unverifiable),
            ("unindexed file", report.orphans),
        ):
            for name in names:
                print(f"  {label}: {name}")
        if report.unrecorded:
            done = "written" if report.repaired else "missing; `--repair` writes them"
            print(f"  {len(report.unrecorded)} intact shards without a record file ({done})")
        bad += not report.ok and not report.repaired
    if bad:
        print(
            f"Run `embrm cache verify --repair --cache-dir {root}` to drop what does not match "
            "its commit record; those texts are re-embedded on next use."
        )
    return 1 if bad else 0


def _print_report(report) -> None:
    for row in report.iter_rows(named=True):
        interval = f"  [{row['ci_low']:.4f}, {row['ci_high']:.4f}]" if row["ci_low"] is not None else ""
        print(f"{row['metric']:<24} {row['value']:10.4f}{interval}")


def cmd_train(args: argparse.Namespace) -> None:
    from ._validation import check_output_file
    from .heads import HEADS
    from .workflow import train_held_out

    if args.out:
        check_output_file(args.out, "--out")  # before training, not after
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
    from ._validation import check_output_file
    from .workflow import reward_frame

    out = check_output_file(args.out, "--out", (".parquet", ".csv"))
    head, encoder = _load_head(args)
    frame = reward_frame(head, _load(args.data, args.data_dir), encoder)
    if out.suffix.lower() == ".csv":
        frame.write_csv(out)
    else:
        frame.write_parquet(out)
    print(f"wrote {frame.height} rows with rewards to {out}")


def cmd_eval(args: argparse.Namespace) -> None:
    from ._validation import check_output_file
    from .data import ScoredResponses
    from .evaluate import BestOfNDisplay, evaluate_pairs, evaluate_rewards

    if args.plot:
        check_output_file(args.plot, "--plot", (".png",))
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


# -- active annotation: `embrm select` and `embrm merge-labels` ---------------------------------
def _pool_responses(args: argparse.Namespace, encoder):
    """The response table of a pool source and its embeddings: scored responses, pairs (their
    answers, labels ignored) or a file of unlabelled responses (prompt, response)."""
    import numpy as np
    import polars as pl

    from .active import responses_from_pairs
    from .data import DATASETS, PreferencePairs

    path = Path(args.pool)
    readers = {".parquet": pl.read_parquet, ".csv": pl.read_csv, ".jsonl": pl.read_ndjson}
    if args.pool not in DATASETS and path.is_file() and path.suffix.lower() in readers:
        frame = readers[path.suffix.lower()](path)
        if "score" not in frame.columns and not {"chosen", "rejected"} <= set(frame.columns):
            if not {"prompt", "response"} <= set(frame.columns):
                raise EmbrmError(
                    f"{path.name}: a pool file needs 'prompt' and 'response' columns (scored responses "
                    f"or pairs work too); found {frame.columns}."
                )
            return frame, encoder.encode_responses(frame["prompt"].to_list(), frame["response"].to_list())
    data = _load(args.pool, args.data_dir)
    if isinstance(data, PreferencePairs):
        return responses_from_pairs(data), np.vstack(data.embed(encoder))
    return data, data.embed(encoder)


def cmd_select(args: argparse.Namespace) -> None:
    from .active import (
        STRATEGIES,
        cross_prompt_pool,
        merge_labels,
        read_labels,
        select_queries,
        within_prompt_pool,
        write_queries,
    )

    out = Path(args.out)
    if any(out.resolve() == Path(p).resolve() for p in args.labelled):
        raise EmbrmError(f"--out {out} is one of the --labelled files; write the new queries elsewhere.")
    labels = merge_labels(*(read_labels(p) for p in args.labelled))
    encoder = _encoder(args)
    responses, X = _pool_responses(args, encoder)
    if args.pool_type == "within":
        pool = within_prompt_pool(responses, args.pairs_per_prompt, random_state=args.pool_seed)
    else:
        pool = cross_prompt_pool(responses, args.cross_pairs, random_state=args.pool_seed)
    head = None
    if args.head:
        from .heads import load

        head = load(args.head, expected_encoder_id=encoder.identity)
    strategy = STRATEGIES[args.strategy]()
    if args.strategy == "dopt" and args.prior_strength is not None:
        strategy.set_params(prior_strength=args.prior_strength)
    queries = select_queries(
        pool, X, args.budget, strategy=strategy, labels=labels, head=head, random_state=args.random_state
    )
    write_queries(queries, out)
    print(
        f"{args.strategy}: {queries.height} pairs to annotate from a pool of {len(pool)} "
        f"({labels.height} already labelled) written to {out}; fill 'label' with a or b."
    )


def cmd_merge_labels(args: argparse.Namespace) -> None:
    from .active import merge_labels, read_labels, write_labels

    merged = write_labels(merge_labels(*(read_labels(p) for p in args.files)), args.out)
    print(f"{merged.height} labelled pairs in {args.out}")


def _add_active_commands(add) -> None:
    from .active import STRATEGIES

    p = add("select", cmd_select, "Choose the next pairs to annotate (active annotation).")
    p.add_argument("pool", help="built-in data set or file: scored responses, pairs, or prompt/response rows")
    p.add_argument("--labelled", nargs="*", default=[], help="filled query files of earlier rounds")
    p.add_argument("--budget", type=int, required=True, help="pairs to propose")
    p.add_argument("--strategy", choices=sorted(STRATEGIES), default="dopt")
    p.add_argument("--out", required=True, help="query file to write (.csv, .jsonl or .parquet)")
    p.add_argument("--head", help="a saved head for p (default: BTLinear fitted on the labels)")
    p.add_argument("--prior-strength", type=float, help="dopt: prior precision lambda (default 0.1)")
    p.add_argument(
        "--pool-type",
        choices=["within", "cross"],
        default="within",
        help="pairs within one prompt (default) or across prompts",
    )
    p.add_argument("--pairs-per-prompt", type=int, help="within: random pairs per prompt (default all)")
    p.add_argument("--cross-pairs", type=int, default=100_000, help="cross: pairs to draw")
    p.add_argument("--pool-seed", type=int, default=0, help="seeds the pool; keep it across rounds")
    p.add_argument("--random-state", type=int, default=0, help="seeds the selection")
    p.add_argument("--model", help=MODEL_HELP)
    p.add_argument("--quantize", action="store_true", help="use the int8 ONNX variant")
    p = add("merge-labels", cmd_merge_labels, "Merge filled query files by pair id into one labels file.")
    p.add_argument("files", nargs="+", help="filled query files")
    p.add_argument("--out", required=True, help="labels file (merged into if it exists)")


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
    p.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="local: this process (default); ray: a pool of encoder actors on a Ray cluster "
        "(needs `pip install 'embrm[dist]'`; see docs/scaling.md)",
    )
    p.add_argument("--address", help="--engine ray: the cluster's address (default: start a local Ray)")
    p.add_argument("--workers", type=int, help="--engine ray: actors (default: one per GPU, else per CPU)")

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

    _add_active_commands(add)

    cache = sub.add_parser("cache", help="Inspect or verify the embedding cache.")
    cache_sub = cache.add_subparsers(dest="cache_command", required=True)
    for name, func, help_ in (
        ("info", cmd_cache_info, "Vectors, shards and size per model identity."),
        ("verify", cmd_cache_verify, "Check every shard against its commit record (read-only)."),
    ):
        p = cache_sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        p.add_argument("--cache-dir", help="embedding cache (default $EMBRM_CACHE_DIR)")
        if name == "verify":
            p.add_argument(
                "--repair",
                action="store_true",
                help="drop shards that fail or cannot be verified, remove stray files, rebuild the manifest",
            )
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
