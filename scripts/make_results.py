"""Build docs/results.md and the README's headline figures from the recorded runs.

Every number in the documentation comes from a script's output. The experiments write
``results/<experiment>/summary.json`` and the benchmarks ``results/benchmarks/<name>.json``
(git ignores ``results/``); ``--collect`` copies them into ``docs/results/`` (committed), and
every run of this script renders ``docs/results.md`` and the block between
``<!-- headline:start -->`` and ``<!-- headline:end -->`` of ``README.md`` from
``docs/results/`` alone, each figure with the command, date and machine that produced it::

    python experiments/hh_harmless.py            # or any experiment or benchmark
    python scripts/make_results.py --collect results

A record may carry ``notes``: what the run's figures say, written by whoever ran it. They
describe that run only and go when ``--collect`` replaces the record with a newer run.
``tests/meta/test_results_page.py`` fails when the committed pages differ from what this
script renders, so nobody edits them by hand.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from embrm._files import atomic_write_bytes, atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "docs" / "results"
EXPERIMENTS = (
    "alpacaeval_benchmark",
    "hh_harmless",
    "noise_bt_vs_classifier",
    "ensembles_hacking",
    "drm_decomposition",
    "representations",
    "active_learning",
    "bon_smollm",
    "dpo_smollm",
)
BENCHMARKS = (
    "embed_throughput",
    "cache_read",
    "decoder_throughput",
    "train_heads",
    "linear_penalty",
    "bon_curve",
    "active_select",
    "mutation_score",
)
START, END = "<!-- headline:start -->", "<!-- headline:end -->"

#: README headline figures: (label, kind, record, how to read the value from it).
#: ``("headline", key)`` reads an experiment's headline; ``("cell", row, column)`` reads a cell
#: of the first markdown table row of a benchmark's output that starts with ``row``.
HEADLINES = (
    (
        "embedding, embrm fp32 (texts/s)",
        "benchmarks",
        "embed_throughput",
        ("cell", "embrm fp32 (ONNX", "texts/s"),
    ),
    (
        "embedding, sentence-transformers (texts/s)",
        "benchmarks",
        "embed_throughput",
        ("cell", "sentence-transformers encode", "texts/s"),
    ),
    (
        "embedding, static model distilled from MiniLM (texts/s)",
        "benchmarks",
        "embed_throughput",
        ("cell", "static (model2vec", "texts/s"),
    ),
    (
        "BTLinear on ~32k AlpacaEval pairs: fit seconds",
        "benchmarks",
        "train_heads",
        ("cell", "BTLinear", "MiniLM (384-d): fit s"),
    ),
    (
        "BTLinear held-out pairwise accuracy (PyTorch reference MLP: see the page)",
        "benchmarks",
        "train_heads",
        ("cell", "BTLinear", "acc"),
    ),
    (
        "AlpacaEval Best-of-51 win rate of the best head",
        "experiments",
        "alpacaeval_benchmark",
        ("headline", "BoN@51 win rate %"),
    ),
    ("HH-RLHF harmless, BTLinear pairwise accuracy", "experiments", "hh_harmless", ("headline", "bt-linear")),
)


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def load_records(root: Path = RECORDS) -> dict[str, dict[str, dict]]:
    """The committed records: ``{"experiments": {name: record}, "benchmarks": {...}}``."""
    found: dict[str, dict[str, dict]] = {"experiments": {}, "benchmarks": {}}
    for kind, names in (("experiments", EXPERIMENTS), ("benchmarks", BENCHMARKS)):
        for name in names:
            path = root / kind / f"{name}.json"
            if path.is_file():
                found[kind][name] = json.loads(path.read_text())
    return found


def collect(results: Path, root: Path = RECORDS) -> list[str]:
    """Copy the full (not --quick) runs under ``results`` into the records; their names."""
    copied = []
    for name in EXPERIMENTS:
        src = results / name / "summary.json"
        if src.is_file() and not json.loads(src.read_text()).get("quick"):
            (root / "experiments").mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(root / "experiments" / f"{name}.json", src.read_bytes())
            copied.append(name)
    for name in BENCHMARKS:
        src = results / "benchmarks" / f"{name}.json"
        if src.is_file():
            (root / "benchmarks").mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(root / "benchmarks" / f"{name}.json", src.read_bytes())
            copied.append(name)
    return copied


def table_cell(output: str, row: str, column: str) -> str:
    """The cell in ``column`` of the first table row starting with ``row`` in ``output``."""
    header: list[str] | None = None
    for line in output.splitlines():
        line = line.strip()
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if header is None:
            header = cells
        elif cells[0].startswith(row) and column in header:
            return cells[header.index(column)]
    raise KeyError(f"no table row starting with {row!r} and a column {column!r}")


def _when(record: dict) -> str:
    return f"{record['finished_utc']} UTC, {record['machine']}"


def render_headlines(records: dict[str, dict[str, dict]]) -> str:
    lines = ["| figure | value | command (date, machine) |", "|---|---|---|"]
    for label, kind, name, (how, *key) in HEADLINES:
        record = records[kind].get(name)
        if record is None:
            continue
        value = record["headline"][key[0]] if how == "headline" else table_cell(record["output"], *key)
        lines.append(f"| {_cell(label)} | {_cell(value)} | `{record['command']}` ({_when(record)}) |")
    lines.append("")
    lines.append(
        "Generated by `python scripts/make_results.py`; every other figure is in "
        "[docs/results.md](docs/results.md)."
    )
    return "\n".join(lines)


def render_page(records: dict[str, dict[str, dict]]) -> str:
    out = [
        "# Results",
        "",
        "Generated by `python scripts/make_results.py` from the records in `docs/results/` "
        "(the experiments' `summary.json` and the benchmarks' printed output, each with the "
        "command, date and machine of its run); do not edit by hand. How to rerun: "
        "[experiments](../experiments/README.md), [benchmarks](../benchmarks/README.md).",
        "",
        "## Experiments",
        "",
        "| # | experiment | command | run | headline numbers | what they mean |",
        "|---|---|---|---|---|---|",
    ]
    for i, name in enumerate(EXPERIMENTS, 1):
        s = records["experiments"].get(name)
        if s is None:
            out.append(f"| {i} | {name} | `python experiments/{name}.py` | not run | – | – |")
            continue
        cache = "warm cache" if s.get("warm_cache") else f"{s.get('new_embeddings')} texts embedded"
        quick = f"; `--quick`: {s['quick_runtime_s']:.0f} s" if s.get("quick_runtime_s") else ""
        headline = "<br>".join(f"{_cell(k)}: {_cell(v)}" for k, v in s["headline"].items())
        meaning = "<br>".join(f"• {_cell(f)}" for f in s["findings"])
        out.append(
            f"| {i} | {_cell(s['title'])} | `{s['command']}` | {s['runtime_s']:.0f} s, {cache}"
            f"{quick} ({_when(s)}) | {headline} | {meaning} |"
        )
    sources = {s.get("source") for s in records["experiments"].values()} - {None}
    for source in sorted(sources):
        names = [n for n, s in records["experiments"].items() if s.get("source") == source]
        out += ["", f"Rows {', '.join(names)}: {source}."]
    for i, name in enumerate(EXPERIMENTS, 1):
        notes = records["experiments"].get(name, {}).get("notes")
        if notes:
            title = records["experiments"][name]["title"]
            out += ["", f"### {i}. {title}: notes on this run", "", notes.strip()]
    out += ["", "## Benchmarks", ""]
    for name in BENCHMARKS:
        b = records["benchmarks"].get(name)
        out.append(f"### {name}")
        out.append("")
        if b is None:
            out += [f"Not run: `python benchmarks/{name}.py`.", ""]
            continue
        runtime = f", {b['runtime_s']:.0f} s" if b.get("runtime_s") else ""
        load = f", load average {b['load_average']}" if b.get("load_average") is not None else ""
        out += [f"`{b['command']}` ({_when(b)}{runtime}{load})", ""]
        if b.get("source"):
            # Imported from a hand-written page: already markdown.
            out += [f"*{b['source']}.*", "", b["output"].strip(), ""]
        else:
            out += ["```text", b["output"].strip(), "```", ""]
        if b.get("notes"):
            out += [b["notes"].strip(), ""]
    return "\n".join(out).rstrip() + "\n"


def render_readme(readme: str, records: dict[str, dict[str, dict]]) -> str:
    if START not in readme or END not in readme:
        raise SystemExit(f"README.md lacks the markers {START} ... {END}")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{render_headlines(records)}\n{END}{tail}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--collect",
        metavar="RESULTS",
        default=None,
        help="first copy the full runs under RESULTS (e.g. results) into docs/results/",
    )
    parser.add_argument("--records", default=str(RECORDS))
    parser.add_argument("--page", default=str(ROOT / "docs" / "results.md"))
    parser.add_argument("--readme", default=str(ROOT / "README.md"))
    args = parser.parse_args(argv)
    records_dir = Path(args.records)
    if args.collect:
        print("collected:", ", ".join(collect(Path(args.collect), records_dir)) or "nothing")
    records = load_records(records_dir)
    atomic_write_text(args.page, render_page(records))
    readme = Path(args.readme)
    atomic_write_text(readme, render_readme(readme.read_text(), records))
    n = sum(len(v) for v in records.values())
    print(f"wrote {args.page} and the headline of {readme} from {n} records")


if __name__ == "__main__":
    main()
