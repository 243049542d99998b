"""The ``embrm`` command line: thin commands over the library's functions."""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

from embrm import __version__
from embrm.embed import DEFAULT_REPRESENTATION
from embrm.exceptions import DataError, EmbrmError


def _print_rows(rows: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


QUANTIZE_HELP = "the int8 variant of an ONNX model; the default model then is minilm"
MODEL_HELP = (
    "a named representation (see `embrm doctor`: minilm, minilm-windows, minilm-split, "
    "minilm+length, static, static-split, static+minilm, smollm2-mean, smollm2-last), "
    "a sentence-transformers or causal-LM folder, "
    f"a .gguf file, or a hub id (default: {DEFAULT_REPRESENTATION}; minilm for the transformer)"
)


def _number(kind: Callable[[str], float], check: Callable[[float], bool], wanted: str):
    """An argparse ``type`` that parses with ``kind`` and refuses values failing ``check``."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None
        if not check(value):
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text}")
        return value

    parse.__name__ = wanted  # argparse names the type in some messages
    return parse


#: argparse types: the message names what the option needs.
POSITIVE_INT = _number(int, lambda v: v >= 1, "a positive integer (1 or more)")
SEED = _number(int, lambda v: 0 <= v < 2**32, "an integer seed in [0, 2**32)")
SHARE = _number(float, lambda v: 0.0 < v < 1.0, "a share between 0 and 1, such as 0.2")
POSITIVE_FLOAT = _number(float, lambda v: math.isfinite(v) and v > 0, "a finite number above 0")
NON_NEGATIVE_FLOAT = _number(float, lambda v: math.isfinite(v) and v >= 0, "a finite number, 0 or more")
UNIT_INTERVAL = _number(float, lambda v: 0.0 <= v <= 1.0, "a number from 0 to 1, such as 0.25")


def _model_name(args: argparse.Namespace) -> str:
    """The representation the command uses: ``--model``, else the default (minilm with
    ``--quantize``, the int8 variant of an ONNX model)."""
    quantize = getattr(args, "quantize", False)
    return getattr(args, "model", None) or ("minilm" if quantize else DEFAULT_REPRESENTATION)


def _encoder(args: argparse.Namespace):
    from embrm.embed import Encoder

    return Encoder(
        model=_model_name(args),
        cache_dir=args.cache_dir,
        device=getattr(args, "device", None),
        quantize=getattr(args, "quantize", False),
    )


def _input_file(name_or_path: str) -> Path:
    """``name_or_path`` as a file to read; a clear error for a folder or a missing file."""
    from embrm.data import DATASETS

    path = Path(name_or_path)
    if path.is_dir():
        raise EmbrmError(f"{name_or_path!r} is a folder; give a data file (.parquet, .jsonl or .csv).")
    if not path.exists():
        raise EmbrmError(
            f"{name_or_path!r} is neither a built-in data set ({', '.join(DATASETS)}) nor a file."
        )
    return path


def _load(name_or_path: str, data_dir: str | None):
    """A built-in data set by name, or a file (pairs if it has chosen/rejected), read by the
    checked readers of :mod:`embrm.data`."""
    from embrm.data import DATASETS, load_dataset, read_any

    if name_or_path in DATASETS:
        return load_dataset(name_or_path, data_dir)
    from embrm.active import is_labels_file, labelled_pairs, read_labels, read_queries
    from embrm.data import peek_columns

    path = _input_file(name_or_path)
    if is_labels_file(path):  # a filled query file of `embrm select`, or a merged round
        if "rule" in (peek_columns(path) or []):  # `merge-labels ROUND`: every row, by its rule
            return labelled_pairs(read_queries(path), name=path.stem)
        return labelled_pairs(read_labels(path), name=path.stem)
    return read_any(path)


def _input_files(name_or_path: str | None, data_dir: str | None) -> list[Path]:
    """The file(s) a command reads for ``name_or_path``: the file itself, and for a
    built-in data set's name its file in the data folder (so no ``--out`` can replace it)."""
    if not name_or_path:
        return []
    from embrm.data import DATASETS
    from embrm.data import data_dir as resolve_data_dir

    files = [Path(name_or_path)]
    if name_or_path in DATASETS and (root := resolve_data_dir(data_dir)):
        files.append(Path(root) / DATASETS[name_or_path].filename)
    return files


def _check_out(
    out: str, inputs: list[Path | str | None], suffixes: tuple[str, ...] = (), what: str = "--out"
) -> Path:
    """``--out`` as a Path, checked before any work: a writable file path (not a folder)
    with one of ``suffixes``, and none of the command's inputs."""
    from embrm._core.files import check_not_input
    from embrm._core.validation import check_output_file

    if Path(out).expanduser().is_dir():  # before the suffix, whose message would mislead
        raise DataError(f"{what} {out!r} is a folder; give a file name inside it.")
    return check_not_input(check_output_file(out, what, suffixes), inputs, what)


def cmd_doctor(args: argparse.Namespace) -> None:
    from embrm.cli.doctor import doctor_report

    _print_rows(doctor_report(args.cache_dir, args.data_dir))


def cmd_datasets(args: argparse.Namespace) -> None:
    from embrm.data import DATASETS, data_dir

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
        from embrm.embed import Encoder, RayEngine

        encoder = Encoder(
            model=_model_name(args),
            cache_dir=args.cache_dir,
            device=args.device,
            quantize=args.quantize,
            engine=RayEngine(address=args.address, num_workers=args.workers),
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
            if (run := getattr(encoder.engine, "last_run", None))
            else ""
        )
    )


def cmd_cache_info(args: argparse.Namespace) -> None:
    from embrm.embed import VectorCache, cached_identities, default_cache_dir

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
    from embrm.embed import VectorCache, cached_identities, default_cache_dir

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
    """Print a :class:`~embrm.model_selection.Report`: one metric a line, with its interval."""
    for metric in report.metrics:
        interval = report.interval(metric)
        shown = f"  [{interval[0]:.4f}, {interval[1]:.4f}]" if interval is not None else ""
        value = report.value(metric)
        print(f"{metric:<24} {'–' if value is None else format(value, '.4f'):>10}{shown}")


def cmd_train(args: argparse.Namespace) -> None:
    from embrm.cli.workflow import train_held_out
    from embrm.heads import HEADS

    # --out is checked before training, not after
    out = _check_out(args.out, _input_files(args.data, args.data_dir)) if args.out else None
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
    if out:
        result.head.save(out)
        print(f"saved to {out}")


def _load_head(args: argparse.Namespace):
    from embrm.heads import load

    encoder = _encoder(args)
    return load(args.head, expected_encoder_id=encoder.identity), encoder


def cmd_reward(args: argparse.Namespace) -> None:
    from embrm._core.files import write_frame
    from embrm.cli.workflow import reward_frame

    out = _check_out(args.out, [args.head, *_input_files(args.data, args.data_dir)], (".parquet", ".csv"))
    head, encoder = _load_head(args)
    frame = reward_frame(head, _load(args.data, args.data_dir), encoder)
    write_frame(frame, out, what="--out")
    print(f"wrote {frame.height} rows with rewards to {out}")


def _interval(row: dict) -> str:
    """``value [ci_low, ci_high]`` of a report row, 3 decimals; "-" for a null value."""
    if row["value"] is None:
        return "-"
    if row["ci_low"] is None:
        return f"{row['value']:.3f}"
    return f"{row['value']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"


def _print_subset_report(report) -> None:
    """The table of :func:`embrm.evaluate.evaluate_by_subset`, one line per subset."""
    columns = {
        "pairwise_accuracy": "head",
        "longer_wins": "longer wins",
        "shorter_wins": "shorter wins",
        "pairwise_accuracy_chosen_shorter": "head, chosen shorter",
    }
    lines = []
    for subset in report["subset"].unique(maintain_order=True):
        rows = {r["metric"]: r for r in report.filter(subset=subset).iter_rows(named=True)}
        cells = [subset, f"{rows['n_pairs']['value']:.0f}", *(_interval(rows[m]) for m in columns)]
        lines.append([*cells, f"{rows['n_chosen_shorter']['value']:.0f}"])
    header = ["subset", "pairs", *columns.values(), "pairs, chosen shorter"]
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]
    print("\nBy subset, beside the length-only baselines (equal lengths count 1/2):")
    for line in [header, *lines]:
        cells = [c.rjust(w) for c, w in zip(line[1:], widths[1:], strict=True)]
        print("  ".join([line[0].ljust(widths[0]), *cells]))


def cmd_eval(args: argparse.Namespace) -> None:
    from embrm._core.files import atomic_write
    from embrm.data import ScoredResponses
    from embrm.evaluate import BestOfNDisplay, evaluate_by_subset, evaluate_pairs, evaluate_rewards
    from embrm.model_selection import Report

    if args.plot:
        _check_out(args.plot, [args.head, *_input_files(args.data, args.data_dir)], (".png",), "--plot")
    head, encoder = _load_head(args)
    data = _load(args.data, args.data_dir)
    if isinstance(data, ScoredResponses):
        reward = head.reward(data.embed(encoder))
        length = data.frame["response"].str.len_chars().to_numpy()
        report = evaluate_rewards(
            reward, data.scores, data.groups, length=length, random_state=args.random_state
        )
        _print_report(Report(report))
        if args.plot:
            display = BestOfNDisplay.from_predictions(
                reward, data.scores, data.groups, n_bootstrap=200, name=Path(args.head).stem
            )
            with atomic_write(args.plot, "wb", what="--plot") as fh:
                display.figure_.savefig(fh, format="png", dpi=120, bbox_inches="tight")
            print(f"Best-of-N curve written to {args.plot}")
        return
    if args.plot:
        raise EmbrmError("--plot draws a Best-of-N curve, which needs scored responses, not pairs.")
    import numpy as np
    import polars as pl

    frame = data.frame
    subsets = frame["subset"].cast(pl.String).to_list() if "subset" in frame.columns else None
    lengths = frame["chosen"].str.len_chars().to_numpy(), frame["rejected"].str.len_chars().to_numpy()
    try:  # the subset names are checked before the embedding work, not after it
        evaluate_by_subset(np.zeros(len(data)), np.zeros(len(data)), *lengths, subsets, n_bootstrap=0)
    except DataError as exc:
        raise DataError(f"{args.data}: column 'subset': {exc}") from None
    X_win, X_lose = data.embed(encoder)
    reward_win, reward_lose = head.reward(X_win), head.reward(X_lose)
    _print_report(
        Report(
            evaluate_pairs(
                reward_win,
                reward_lose,
                data.groups,
                proba=head.predict_proba(X_win, X_lose),
                random_state=args.random_state,
            )
        )
    )
    report = evaluate_by_subset(
        reward_win, reward_lose, *lengths, subsets, data.groups, random_state=args.random_state
    )
    _print_subset_report(report)


# -- the reward service: `embrm serve` -------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> None:
    from embrm.serve import serve, serve_on_ray

    if args.penalty == "uwo":  # the old name of lcb, kept for one release
        print("embrm serve: --penalty uwo was renamed --penalty lcb (mean - k * std); the old name "
              "will be removed in the next release.", file=sys.stderr)
        args.penalty = "lcb"
    if args.penalty_weight and not args.penalty:
        raise EmbrmError("--penalty-weight applies with --penalty lcb only.")
    options = dict(
        model=_model_name(args),
        cache_dir=args.cache_dir,
        host=args.host,
        port=args.port,
        token=args.token,
        write_cache=args.write_cache,
        max_batch=args.max_batch,
        max_wait_ms=args.max_wait_ms,
        max_answers=args.max_answers,
        max_bytes=args.max_bytes,
        penalty=args.penalty,
        penalty_weight=args.penalty_weight or 0.0,
    )
    if args.engine == "ray":
        if args.workers != 1 or args.access_log:
            raise EmbrmError("--workers and --access-log apply to --engine uvicorn; use --replicas with ray.")
        serve_on_ray(args.head, replicas=args.replicas or 1, address=args.address, **options)
        return
    if args.replicas is not None or args.address:
        raise EmbrmError("--replicas and --address apply to --engine ray only.")
    serve(args.head, workers=args.workers, access_log=args.access_log, **options)


def _add_serve_command(add) -> None:
    from embrm.serve import (
        DEFAULT_MAX_ANSWERS,
        DEFAULT_MAX_BATCH,
        DEFAULT_MAX_BYTES,
        DEFAULT_MAX_WAIT_MS,
        PENALTIES,
        TOKEN_ENV,
    )

    p = add("serve", cmd_serve, "Serve a saved head over HTTP for RL engines (OpenRLHF, verl, TRL).")
    p.add_argument("head", help="a head saved by `embrm train --out`")
    p.add_argument(
        "--model", help=f"the representation the head was trained with (default {DEFAULT_REPRESENTATION})"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others: --token)")
    p.add_argument("--port", type=_number(int, lambda v: 0 < v < 65536, "a port (1-65535)"), default=8000)
    p.add_argument("--workers", type=POSITIVE_INT, default=1, help="uvicorn worker processes (default 1)")
    p.add_argument("--token", help=f"bearer token required on every route but /health (default ${TOKEN_ENV})")
    p.add_argument(
        "--write-cache",
        action="store_true",
        help="store the vectors of new answers in the cache (default: read cached vectors only)",
    )
    p.add_argument(
        "--max-batch",
        type=POSITIVE_INT,
        default=DEFAULT_MAX_BATCH,
        help=f"most answers per encoder call (default {DEFAULT_MAX_BATCH})",
    )
    p.add_argument(
        "--max-wait-ms",
        type=NON_NEGATIVE_FLOAT,
        default=DEFAULT_MAX_WAIT_MS,
        help=f"how long a batch waits for more requests (default {DEFAULT_MAX_WAIT_MS})",
    )
    p.add_argument(
        "--max-answers",
        type=POSITIVE_INT,
        default=DEFAULT_MAX_ANSWERS,
        help=f"most answers per request (default {DEFAULT_MAX_ANSWERS})",
    )
    p.add_argument(
        "--max-bytes",
        type=POSITIVE_INT,
        default=DEFAULT_MAX_BYTES,
        help=f"largest request body in bytes (default {DEFAULT_MAX_BYTES})",
    )
    p.add_argument(
        "--penalty",
        choices=(*PENALTIES, "uwo"),
        help="ensemble heads: lcb serves mean - k * std of the members (uwo: its old name)",
    )
    p.add_argument("--penalty-weight", type=NON_NEGATIVE_FLOAT, help="the k of --penalty (default 0)")
    p.add_argument("--access-log", action="store_true", help="log every request (costs time under load)")
    p.add_argument(
        "--engine",
        choices=["uvicorn", "ray"],
        default="uvicorn",
        help="uvicorn: this machine (default); ray: a Ray Serve deployment (`pip install 'embrm[serve]'`)",
    )
    p.add_argument("--replicas", type=POSITIVE_INT, help="--engine ray: replicas of the app (default 1)")
    p.add_argument("--address", help="--engine ray: the cluster's address (default: start a local Ray)")


# -- active annotation: `embrm select` and `embrm merge-labels` ---------------------------------
def _pool_responses(args: argparse.Namespace, encoder):
    """The response table of a pool source and its embeddings: scored responses, pairs (their
    answers, labels ignored) or a file of unlabelled responses (prompt, response)."""
    import numpy as np
    import polars as pl

    from embrm.active import responses_from_pairs
    from embrm.data import DATASETS, PreferencePairs, read_any

    path = Path(args.pool)
    if args.pool not in DATASETS and path.is_file():
        data = read_any(path, unscored=True)  # checked; conversations rendered as everywhere
        if isinstance(data, pl.DataFrame):  # unlabelled responses (prompt, response)
            return data, encoder.encode_responses(data["prompt"].to_list(), data["response"].to_list())
    else:
        data = _load(args.pool, args.data_dir)
    if isinstance(data, PreferencePairs):
        return responses_from_pairs(data), np.vstack(data.embed(encoder))
    return data, data.embed(encoder)


#: ``embrm select`` options that set a strategy parameter: flag -> parameter.
STRATEGY_OPTIONS = {
    "--prior-strength": "prior_strength",
    "--normalize": "normalize",
    "--max-norm": "max_norm",
    "--weighting": "weighting",
    "--max-per-prompt": "max_per_prompt",
    "--random-share": "random_share",
}


def _add_strategy_arguments(p: argparse.ArgumentParser) -> None:
    """``--strategy`` and every strategy option (:data:`STRATEGY_OPTIONS`), shared by
    ``select`` and ``annotate`` so that both reach every strategy the same way."""
    from embrm.active import STRATEGIES

    p.add_argument(
        "--strategy",
        choices=sorted(STRATEGIES),
        help="default: vopt with --normalize unit (the strategy the simulations on real data favour)",
    )
    p.add_argument(
        "--prior-strength",
        type=POSITIVE_FLOAT,
        help="dopt and vopt: precision lambda of the prior on the reward direction (default 0.1)",
    )
    p.add_argument(
        "--normalize",
        choices=["none", "unit", "cap"],
        help="dopt and vopt: score differences as they are (none, the default), of length 1 (unit), "
        "or no longer than --max-norm (cap)",
    )
    p.add_argument(
        "--max-norm",
        type=POSITIVE_FLOAT,
        help="dopt and vopt with --normalize cap: the longest difference (default the pool's median length)",
    )
    p.add_argument(
        "--weighting",
        choices=["head", "posterior"],
        help="dopt and vopt: p(1-p) at the head's prediction (head, the default) or its mean under the "
        "design's posterior (posterior)",
    )
    p.add_argument(
        "--max-per-prompt", type=POSITIVE_INT, help="dopt and vopt: at most this many pairs of one prompt"
    )
    p.add_argument(
        "--random-share",
        type=UNIT_INTERVAL,
        help="dopt and vopt: share of the pairs drawn uniformly at random (default 0)",
    )


def _strategy(args: argparse.Namespace):
    """The strategy ``--strategy`` names, seeded by ``--random-state``, with every option it
    takes (:data:`STRATEGY_OPTIONS`); an option it does not take is an error, not silently
    ignored."""
    from embrm.active import DEFAULT_STRATEGY, STRATEGIES

    if args.strategy is None:
        args.strategy, defaults = DEFAULT_STRATEGY
    else:
        defaults = {}
    strategy = STRATEGIES[args.strategy](**defaults, random_state=args.random_state)
    for flag, param in STRATEGY_OPTIONS.items():
        value = getattr(args, param)
        if value is None:
            continue
        if param not in strategy.get_params(deep=False):
            takes = sorted(n for n, cls in STRATEGIES.items() if param in cls().get_params())
            raise EmbrmError(
                f"{flag} is a parameter of the strategies {takes}, not of "
                f"{args.strategy!r}: drop it, or choose one of those strategies."
            )
        strategy.set_params(**{param: value})
    if args.max_norm is not None and strategy.get_params()["normalize"] != "cap":
        raise EmbrmError(
            "--max-norm caps the differences' length only with --normalize cap: add it or drop --max-norm."
        )
    return strategy


def cmd_select(args: argparse.Namespace) -> None:
    from embrm.active import (
        check_holds_no_labels,
        cross_prompt_pool,
        merge_labels,
        read_labels,
        select_queries,
        within_prompt_pool,
        write_queries,
    )

    strategy = _strategy(args)
    inputs = [*_input_files(args.pool, args.data_dir), *args.labelled, args.head]
    out = _check_out(args.out, inputs, (".csv", ".jsonl", ".parquet"))
    check_holds_no_labels(out)  # before the work; write_queries checks again under the lock
    from embrm.annotate import check_no_round_labels

    check_no_round_labels(out)  # nor the query file of a round labelled on the page
    labels = merge_labels(*(read_labels(p) for p in args.labelled))
    encoder = _encoder(args)
    responses, X = _pool_responses(args, encoder)
    if args.pool_type == "within":
        pool = within_prompt_pool(responses, args.pairs_per_prompt, random_state=args.pool_seed)
    else:
        pool = cross_prompt_pool(responses, args.cross_pairs, random_state=args.pool_seed)
    head = None
    if args.head:
        from embrm.heads import load

        head = load(args.head, expected_encoder_id=encoder.identity)
    queries = select_queries(
        pool, X, args.budget, strategy=strategy, labels=labels, head=head, random_state=args.random_state
    )
    write_queries(queries, out)
    print(
        f"{args.strategy}: {queries.height} pairs to annotate from a pool of {len(pool)} "
        f"({labels.height} already labelled) written to {out}; fill 'label' with a or b."
    )
    if args.tasks:
        from embrm.annotate import AnnotationRound, write_tasks

        suffix = {"label-studio": ".json", "argilla": ".jsonl", "table": ".csv"}[args.tasks]
        tasks = out.with_name(f"{out.stem}.{args.tasks}{suffix}")
        round_ = AnnotationRound(out)
        write_tasks(round_, _check_out(str(tasks), inputs + [out], (suffix,), "the tasks file"), args.tasks)
        print(f"{args.tasks} tasks of round {round_.round_id} written to {tasks}")


def _pool_and_vectors(args: argparse.Namespace):
    """The candidate pool ``--pool`` and its options describe, and its response vectors."""
    from embrm.active import cross_prompt_pool, within_prompt_pool

    encoder = _encoder(args)
    responses, X = _pool_responses(args, encoder)
    if args.pool_type == "within":
        return within_prompt_pool(responses, args.pairs_per_prompt, random_state=args.pool_seed), X
    return cross_prompt_pool(responses, args.cross_pairs, random_state=args.pool_seed), X


def cmd_merge_labels(args: argparse.Namespace) -> None:
    from embrm.active import merge_labels, read_labels, unlabelled_rows, write_labels

    if args.rule or args.labels or (len(args.files) == 1 and Path(args.files[0]).is_dir()):
        return _merge_round(args)
    out = _check_out(args.out, args.files, (".csv", ".jsonl", ".parquet"))
    merged = write_labels(merge_labels(*(read_labels(p) for p in args.files)), out)
    unlabelled = unlabelled_rows(out)
    still = f"; {unlabelled} rows of it still to annotate (kept)" if unlabelled else ""
    print(f"{merged.height} labelled pairs in {out}{still}")


def _merge_round(args: argparse.Namespace) -> None:
    """``embrm merge-labels ROUND``: every annotator's votes (the page's logs and the tools'
    exports) merged by a named rule, one row per pair of the round, with the agreement."""
    import polars as pl

    from embrm._core.files import write_frame
    from embrm.annotate import AnnotationRound, agreement, merge_votes, read_votes
    from embrm.data import peek_columns

    if len(args.files) != 1:
        raise EmbrmError("Give one round (its folder or query file) to merge with --rule or --labels.")
    round_ = AnnotationRound.open(args.files[0])
    logs = round_.log.folder
    out = _check_out(args.out, [round_.queries_path, logs, *args.labels], (".csv", ".jsonl", ".parquet"))
    if out.resolve().parent == logs.resolve():
        raise DataError(f"--out {args.out!r} is inside the round's label logs; write it elsewhere.")
    columns = peek_columns(out) if out.exists() else None
    if out.exists() and (columns is None or "rule" not in columns):
        raise DataError(
            f"--out {args.out!r} exists and is not a merge of a round (no 'rule' column); it is "
            "never replaced: give a new file name."
        )
    logged = round_.votes().select("pair_id", "annotator", "label")
    round_.check_pairs(logged["pair_id"].unique().to_list(), f"The label logs in {logs}")
    votes = pl.concat([logged, *(read_votes(p, round_) for p in args.labels)])
    rule = args.rule or "majority"
    merged = merge_votes(votes, rule)
    queries = round_.queries().drop("label", strict=False)
    frame = queries.join(merged, on="pair_id", how="left", maintain_order="left").with_columns(
        pl.col("rule").fill_null(rule), pl.col("status").fill_null("unlabelled")
    )
    write_frame(frame, out, what="--out")
    counts = dict(frame.group_by("status").len().iter_rows())
    summary = ", ".join(
        f"{counts[k]} {k}" for k in ("agreed", "split", "tie", "skipped", "unlabelled") if k in counts
    )
    print(f"{frame.height} pairs of round {round_.round_id} merged by {rule} into {out}: {summary}")
    result = agreement(votes)
    print(f"Fleiss' kappa over {votes['annotator'].n_unique()} annotators: {result.fleiss_kappa:.3f}")
    for row in result.pairwise.iter_rows(named=True):
        print(
            f"  Cohen's kappa {row['annotator_1']} / {row['annotator_2']}: {row['cohen_kappa']:.3f} "
            f"on {row['n_pairs']} pairs"
        )
    for row in result.per_annotator.iter_rows(named=True):
        print(
            f"  {row['annotator']}: {row['n_pairs']} pairs, mean Cohen's kappa {row['mean_kappa']:.3f}, "
            f"agrees with the others' majority {row['agrees_with_others']:.3f}"
        )


def cmd_annotate(args: argparse.Namespace) -> None:
    from embrm.annotate import NextBatch, annotate

    next_batch = None
    if args.pool:
        pool, X = _pool_and_vectors(args)
        next_batch = NextBatch(pool, X, _strategy(args), args.budget, args.random_state)
    port = {"port": args.port} if args.port else {}
    annotate(
        args.queries,
        annotator=args.annotator,
        host=args.host,
        token=args.token,
        next_batch=next_batch,
        **port,
    )


def _add_active_commands(add) -> None:

    p = add("select", cmd_select, "Choose the next pairs to annotate (active annotation).")
    p.add_argument("pool", help="built-in data set or file: scored responses, pairs, or prompt/response rows")
    p.add_argument("--labelled", nargs="*", default=[], help="filled query files of earlier rounds")
    p.add_argument("--budget", type=POSITIVE_INT, required=True, help="pairs to propose")
    p.add_argument("--out", required=True, help="query file to write (.csv, .jsonl or .parquet)")
    p.add_argument("--head", help="a saved head for p (default: BTLinear fitted on the labels)")
    _add_strategy_arguments(p)
    p.add_argument(
        "--pool-type",
        choices=["within", "cross"],
        default="within",
        help="pairs within one prompt (default) or across prompts",
    )
    p.add_argument(
        "--pairs-per-prompt", type=POSITIVE_INT, help="within: random pairs per prompt (default all)"
    )
    p.add_argument("--cross-pairs", type=POSITIVE_INT, default=100_000, help="cross: pairs to draw")
    p.add_argument("--pool-seed", type=SEED, default=0, help="seeds the pool; keep it across rounds")
    p.add_argument("--random-state", type=SEED, default=0, help="seeds the selection")
    p.add_argument("--model", help=MODEL_HELP)
    p.add_argument("--quantize", action="store_true", help="use the int8 ONNX variant")
    p.add_argument(
        "--tasks",
        choices=["label-studio", "argilla", "table"],
        help="also write the pairs for an annotation tool beside --out (OUT.label-studio.json, "
        "OUT.argilla.jsonl or OUT.table.csv)",
    )
    p = add(
        "merge-labels",
        cmd_merge_labels,
        "Merge filled query files by pair id, or a round's annotators by a rule, into one labels file.",
    )
    p.add_argument("files", nargs="+", help="filled query files, or one round (folder or query file)")
    p.add_argument("--out", required=True, help="labels file (merged into if it exists)")
    p.add_argument("--rule", choices=["majority", "all", "dawid-skene"], help="round: how votes are merged")
    p.add_argument(
        "--labels", nargs="*", default=[], help="round: Label Studio / Argilla exports or vote tables"
    )
    p = add("annotate", cmd_annotate, "Serve a labelling page for a round's query file.")
    p.add_argument("queries", help="the round's query file (embrm select --out ROUND/queries.csv)")
    p.add_argument("--annotator", help="name put on the labels (or open the page with ?annotator=NAME)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (beyond loopback needs --token)")
    p.add_argument("--port", type=POSITIVE_INT, help="port to listen on (default 8765)")
    p.add_argument("--token", help="bearer token for the page's API (default $EMBRM_SERVE_TOKEN)")
    p.add_argument("--pool", help="the round's pool (as for select): enables the page's Next batch")
    p.add_argument("--budget", type=POSITIVE_INT, default=20, help="pairs per next batch")
    _add_strategy_arguments(p)
    p.add_argument("--pool-type", choices=["within", "cross"], default="within")
    p.add_argument("--pairs-per-prompt", type=POSITIVE_INT)
    p.add_argument("--cross-pairs", type=POSITIVE_INT, default=100_000)
    p.add_argument("--pool-seed", type=SEED, default=0)
    p.add_argument("--random-state", type=SEED, default=0)
    p.add_argument("--model", help=MODEL_HELP)
    p.add_argument("--quantize", action="store_true", help="use the int8 ONNX variant")


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
    p.add_argument("--limit", type=POSITIVE_INT, help="only the first N rows")
    p.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="local: this process (default); ray: a pool of encoder actors on a Ray cluster "
        "(needs `pip install 'embrm[dist]'`; see docs/scaling.md)",
    )
    p.add_argument("--address", help="--engine ray: the cluster's address (default: start a local Ray)")
    p.add_argument(
        "--workers", type=POSITIVE_INT, help="--engine ray: actors (default: one per GPU, else per CPU)"
    )

    from embrm.heads import HEADS

    p = add("train", cmd_train, "Train a head with a prompt-grouped held-out split; print its accuracy.")
    p.add_argument("data", help="built-in data set name or a Parquet/JSONL/CSV file")
    p.add_argument("--head", choices=sorted(HEADS), default="bt-linear")
    p.add_argument("--out", help="save the fitted head here (portable .npz + JSON)")
    p.add_argument("--test-size", type=SHARE, default=0.2, help="share of prompts held out")
    p.add_argument(
        "--pairs-per-prompt", type=POSITIVE_INT, default=50, help="for scored data: pairs per prompt"
    )
    p.add_argument(
        "--beta",
        type=NON_NEGATIVE_FLOAT,
        help="for scored data: simulated annotation quality (default noiseless)",
    )
    p.add_argument("--random-state", type=SEED, default=0)
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
            p.add_argument("--random-state", type=SEED, default=0, help="bootstrap seed")

    _add_active_commands(add)
    _add_serve_command(add)

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


def _input_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean bad input or a file system problem, shown as one line: embrm's
    own, files that cannot be read or written (``OSError``), bad values, and the errors polars
    raises for a file it cannot parse (``ComputeError``, ``NoDataError``), should one reach
    here past the checked readers. Other errors are bugs and keep their traceback."""
    errors: tuple[type[BaseException], ...] = (EmbrmError, OSError, ImportError, KeyError, ValueError)
    polars = sys.modules.get("polars")
    if polars is not None:
        errors += (polars.exceptions.ComputeError, polars.exceptions.NoDataError)
    return errors


def _describe_error(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    if isinstance(exc, OSError) and not isinstance(exc, EmbrmError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return str(exc)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``embrm`` command: 0 on success, 1 when ``cache verify`` finds
    problems, 2 for bad input (one line on stderr, never a traceback)."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except _input_errors() as exc:
        print(f"embrm {args.command}: error: {_describe_error(exc)}", file=sys.stderr)
        return 2

