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
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from embrm._core.files import atomic_write_bytes, atomic_write_text

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
    "grpo_smollm",
    "penalties",
)
BENCHMARKS = (
    "embed_throughput",
    "cache_read",
    "decoder_throughput",
    "train_heads",
    "linear_penalty",
    "bon_curve",
    "active_select",
    "out_of_core",
    "ray_embed",
    "mutation_score",
    "annotate_next_batch",
    "serve_load",
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
        ("cell", "BTLinear", "fit s"),
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


#: The one alias table: words that experiment records written before the library gave each
#: concept one name still carry (the reference reward was "gold" and "oracle", the attack
#: metric "null_percentile", "null_above" and "null beats"; experiments renamed
#: pairwise_accuracy "accuracy"), and the word the pages show instead. A record keeps what its
#: run wrote (its figures are never edited); its keys and texts are read through this table.
RECORD_ALIASES: tuple[tuple[str, str], ...] = (
    (r"\bgold_oracle\b", "golden_bon"),
    (r"\bgold(?=\b|_)", "golden"),
    (r"\bGold\b", "Golden"),
    (r"\boracle@", "golden_bon@"),
    (r"\boracle\b", "golden"),
    (r"\bjudge_null_percentile\b", "judge_attack_rank"),
    (r"\bjudge_null_top1_rate\b", "judge_attack_top1_rate"),
    (r"\bnull_(?:percentile|above)\b", "attack_rank"),
    (r"\bnull_top1_rate\b", "attack_top1_rate"),
    (r"\bnull_mean_rank\b", "attack_position"),
    (r"\bnull beats\b", "attack_rank"),
    (r"^hh: accuracy$", "hh: pairwise_accuracy"),
)


def current_words(value: object) -> object:
    """``value`` (a record, or any part of one) with every key and text read through
    :data:`RECORD_ALIASES`; numbers are left as they are."""
    if isinstance(value, dict):
        return {current_words(k): current_words(v) for k, v in value.items()}
    if isinstance(value, list):
        return [current_words(v) for v in value]
    if isinstance(value, str):
        for old, new in RECORD_ALIASES:
            value = re.sub(old, new, value)
    return value


def load_records(root: Path = RECORDS) -> dict[str, dict[str, dict]]:
    """The committed records: ``{"experiments": {name: record}, "benchmarks": {...}}``, the
    experiments' words read through :data:`RECORD_ALIASES`."""
    found: dict[str, dict[str, dict]] = {"experiments": {}, "benchmarks": {}}
    for kind, names in (("experiments", EXPERIMENTS), ("benchmarks", BENCHMARKS)):
        for name in names:
            path = root / kind / f"{name}.json"
            if path.is_file():
                record = json.loads(path.read_text())
                found[kind][name] = current_words(record) if kind == "experiments" else record
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


# --- Generated blocks of the guides -------------------------------------------------------
#
# A guide's figures live between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``; each
# block is rendered from the records alone and says the command that produced them.
# ``tests/meta/test_figures_from_records.py`` fails on a decimal figure outside such blocks
# that no record holds.

#: Answers in AlpacaEval: 805 prompts, 51 models each (the data set, not a result).
ALPACAEVAL_ANSWERS = 805 * 51


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def _source(record: dict) -> str:
    """The line under a generated block: the command, date and machine of its record."""
    return (
        f"Generated by `python scripts/make_results.py` from the record of `{record['command']}` "
        f"({_when(record)}); do not edit by hand."
    )


def _missing(kind: str, name: str) -> str:
    collect = "`python scripts/make_results.py --collect results`"
    return f"*Not run yet: `python {kind}/{name}.py`, then {collect}*."


def _table_lines(output: str) -> list[str]:
    """The markdown table lines (``| ... |``) of a record's printed output, in order."""
    return [line.strip() for line in output.splitlines() if line.strip().startswith("|")]


def _line_starting(output: str, prefix: str) -> str | None:
    return next((line.strip() for line in output.splitlines() if line.strip().startswith(prefix)), None)


def render_representations(records: dict[str, dict[str, dict]]) -> str:
    """README: the speed of the static model against MiniLM, and experiment 6's findings."""
    out = []
    speed = records["benchmarks"].get("embed_throughput")
    if speed is None:
        out.append(_missing("benchmarks", "embed_throughput"))
    else:
        output = speed["output"]
        static = float(table_cell(output, "static (model2vec", "texts/s"))
        minilm = float(table_cell(output, "embrm fp32 (ONNX", "texts/s"))
        out += [
            f"| embedding speed ({output.strip().splitlines()[0]}) | texts/s |",
            "|---|---|",
            f"| `static` (model2vec distilled from MiniLM) | {static:.1f} |",
            f"| `minilm` (embrm's ONNX fp32) | {minilm:.1f} |",
            "",
        ]
        whole = _line_starting(output, "static on all of alpacaeval")
        if whole:
            out.append(
                f"{whole}; MiniLM at {minilm:.1f} texts/s would take about "
                f"{ALPACAEVAL_ANSWERS / minilm / 60:.0f} minutes for those {ALPACAEVAL_ANSWERS} answers."
            )
            out.append("")
        out += [_source(speed), ""]
    exp = records["experiments"].get("representations")
    if exp is None:
        out.append(_missing("experiments", "representations"))
    else:
        out.append(
            "Experiment 6's findings (every row, interval and the hard-set table: "
            "[docs/results.md](docs/results.md)):"
        )
        out.append("")
        out += [f"- {finding}" for finding in exp["findings"]]
        out += ["", *render_cost_quality(exp.get("tables", {}).get("cost_quality")), _source(exp)]
    return "\n".join(out).rstrip()


def render_cost_quality(rows: list[dict] | None) -> list[str]:
    """Experiment 6's table of each representation's cost beside its best head on each data set
    (nothing when the record has no such table)."""
    if not rows:
        return []

    def cell(row: dict, tag: str, metric: str, gain: str, digits: int) -> str:
        if row.get(f"{tag}_{metric}") is None:
            return "–"
        value = _ci(row, f"{tag}_{metric}", digits, sign=False)
        return f"{value}, {_ci(row, f'{tag}_{gain}', digits)} ({row[f'{tag}_head']})"

    out = [
        "| representation | texts/s | hard set: BoN win rate %, gain over longest | "
        "51 models: BoN win rate %, gain over the length-only head | "
        "hh: pairwise accuracy, gain over the length-only head |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        out.append(
            f"| `{row['representation']}` | {row['embed_texts_per_s']:.1f} | "
            f"{cell(row, 'hard', 'bon', 'vs_longest', 2)} | {cell(row, '51', 'bon', 'vs_length_only', 2)} | "
            f"{cell(row, 'hh', 'pairwise_accuracy', 'vs_length_only', 3)} |"
        )
    return [*out, ""]


def _ci(row: dict, key: str, digits: int = 3, sign: bool = True) -> str:
    value = row.get(key)
    if value is None:
        return "–"
    f = f"{{:+.{digits}f}}" if sign else f"{{:.{digits}f}}"
    return f"{f.format(value)} [{f.format(row[key + '_ci_low'])}, {f.format(row[key + '_ci_high'])}]"


def render_active(records: dict[str, dict[str, dict]]) -> str:
    """docs/active.md: every strategy's gains and label ratios, then the AlpacaEval variants."""
    exp = records["experiments"].get("active_learning")
    if exp is None:
        return _missing("experiments", "active_learning")
    table = exp.get("tables", {}).get("ratios")
    out = []
    if table is None:
        # An older record: only the ratios of the headline.
        out += ["| data | strategy | labels to 95% of full accuracy, ratio to random [95% CI] |"]
        out += ["|---|---|---|"]
        out += [
            f"| {key.rsplit(' ', 2)[0]} | {key.rsplit(' ', 2)[1]} | {value} |"
            for key, value in exp["headline"].items()
            if key.endswith(" accuracy") and " random " not in key
        ]
        out += ["", *[f"- {f}" for f in exp["findings"]], "", _source(exp)]
        return "\n".join(out)
    out += [
        "| data | strategy | curve gain, accuracy [95% CI] | labels to 95% of full accuracy, ratio to "
        "random [95% CI] | seeds that reached it | ratio to dopt's labels [95% CI] | curve gain, BoN@16 win "
        "rate [95% CI] |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in table:
        if row["setting"] != "main" or row["strategy"] == "random":
            continue
        out.append(
            f"| {row['dataset']} | {row['strategy']} | {_ci(row, 'curve_gain_accuracy')} | "
            f"{_ci(row, 'ratio_accuracy', 2, False)} | {row.get('reached_accuracy', '–')} | "
            f"{_ci(row, 'ratio_to_dopt_accuracy', 2, False)} | {_ci(row, 'curve_gain_bon', 2)} |"
        )
    randoms = [r for r in table if r["setting"] == "main" and r["strategy"] == "random"]
    if randoms:
        out.append("")
        out.append(
            "Random's own: "
            + "; ".join(
                f"{r['dataset']}, mean accuracy over the curve {r['curve_mean_accuracy']:.3f}, "
                f"reached 95% of the full pool's for good in {r.get('reached_accuracy', '–')} seeds "
                f"(mean labels {r['labels_accuracy']:.0f}, a seed that never did counted as the budget)"
                for r in randoms
            )
            + "."
        )
    budgets = [r for r in table if r["setting"].startswith("budget=") and r["strategy"] != "random"]
    if budgets:
        out += [
            "",
            "| data | budget | strategy | labels to 95%, ratio to random [95% CI] | seeds that reached it | "
            "ratio to dopt's labels [95% CI] |",
            "|---|---|---|---|---|---|",
        ]
        for row in budgets:
            out.append(
                f"| {row['dataset']} | {row['setting'].removeprefix('budget=')} | {row['strategy']} | "
                f"{_ci(row, 'ratio_accuracy', 2, False)} | {row.get('reached_accuracy', '–')} | "
                f"{_ci(row, 'ratio_to_dopt_accuracy', 2, False)} |"
            )
    variants = [
        r
        for r in table
        if r["setting"] != "main"
        and not r["setting"].startswith("budget=")
        and r["strategy"] in ("dopt", "vopt")
    ]
    if variants:
        out += [
            "",
            "| data | variant | strategy | curve gain, accuracy [95% CI] | labels to 95%, ratio to "
            "random [95% CI] | seeds that reached it |",
            "|---|---|---|---|---|---|",
        ]
        for row in variants:
            out.append(
                f"| {row['dataset']} | {row['setting']} | {row['strategy']} | "
                f"{_ci(row, 'curve_gain_accuracy')} | {_ci(row, 'ratio_accuracy', 2, False)} | "
                f"{row.get('reached_accuracy', '–')} |"
            )
    out += ["", *[f"- {f}" for f in exp["findings"]], "", _source(exp)]
    return "\n".join(out)


def render_benchmark_output(name: str, markdown: bool = False) -> Callable[[dict[str, dict[str, dict]]], str]:
    """A block that is a benchmark's printed output, as printed (``markdown``: its lines are
    markdown, tables and sentences, one paragraph a line; else a text block)."""

    def render(records: dict[str, dict[str, dict]]) -> str:
        b = records["benchmarks"].get(name)
        if b is None:
            return _missing("benchmarks", name)
        body = b["output"].strip()
        if markdown:
            lines = body.splitlines()
            out = []
            for i, line in enumerate(lines):
                out.append(line)
                table = line.startswith("|") and i + 1 < len(lines) and lines[i + 1].startswith("|")
                if line.strip() and not table:
                    out.append("")
            return "\n".join(out).replace("\n\n\n", "\n\n").strip() + f"\n\n{_source(b)}"
        if b.get("source"):
            return f"{body}\n\n{_source(b)}"
        return f"```text\n{body}\n```\n\n{_source(b)}"

    return render


def render_bon(records: dict[str, dict[str, dict]]) -> str:
    """docs/policy.md: Best-of-N gains of the proxy's pick by N, and what the run found."""
    exp = records["experiments"].get("bon_smollm")
    if exp is None:
        return _missing("experiments", "bon_smollm")
    out = ["| N | proxy gain over N=1 [95% CI] | golden gain over N=1 [95% CI] |", "|---|---|---|"]
    for key, value in exp["headline"].items():
        proxy, golden = value.removeprefix("gain over N=1: ").split(", golden ")
        out.append(f"| {key.removeprefix('N=')} | {proxy.removeprefix('proxy ')} | {golden} |")
    setup = exp["setup"]
    proxy, golden = setup["proxy"], setup["golden"]
    out += [
        "",
        f"- proxy: {proxy['head']} on `{proxy['representation']}`, {proxy['n_pairs']} pairs from "
        f"{proxy['n_prompts']} prompts, annotator beta {proxy['beta']:g}: "
        f"{100 * proxy['label_error_rate']:.1f}% of its labels flipped;",
        f"- golden: {golden['head']} on `{golden['representation']}`, {golden['n_pairs']} noiseless "
        f"pairs from {golden['n_prompts']} prompts; held out: {setup['held_out_prompts']} prompts, "
        f"{setup['answers_per_prompt']} answers each;",
    ]
    agree = setup.get("judge_agreement_held_out")
    if agree:
        out.append(
            "- against the judge on the held-out prompts' AlpacaEval answers, pairwise accuracy: "
            f"golden {agree['golden']['pairwise_accuracy']:.3f}, "
            f"proxy {agree['proxy']['pairwise_accuracy']:.3f};"
        )
    out += [f"- {f}" for f in exp["findings"]]
    out += ["", f"Run time {exp['runtime_s']:.0f} s. {_source(exp)}"]
    return "\n".join(out)


def render_dpo(records: dict[str, dict[str, dict]]) -> str:
    """docs/policy.md: one DPO round, before and after, from its record."""
    exp = records["experiments"].get("dpo_smollm")
    if exp is None:
        return _missing("experiments", "dpo_smollm")
    setup = exp["setup"]
    out = [f"- {f}" for f in exp["findings"]]
    out.append(
        f"- {setup['n_train_pairs']} DPO pairs from {setup['n_train_prompts']} prompts; held out: "
        f"{setup['n_held_out_prompts']} prompts × {setup['answers_per_held_out_prompt']} answers; "
        f"golden head: {setup['golden']['n_pairs']} pairs from {setup['golden']['n_prompts']} prompts."
    )
    after = setup.get("eval_after") or {}
    if "eval_rewards/accuracies" in after:
        out.append(
            f"- on {setup['n_held_out_pairs']} held-out pairs, DPO's implicit reward ranks the proxy's "
            f"better answer first in {after['eval_rewards/accuracies']:.4f} of them "
            f"(margin {after['eval_rewards/margins']:+.3f})."
        )
    train = f"{setup.get('train_seconds', 0):.0f} s of it DPO training"
    out += ["", f"Run time {exp['runtime_s']:.0f} s, {train}. {_source(exp)}"]
    return "\n".join(out)


def render_grpo(records: dict[str, dict[str, dict]]) -> str:
    """docs/policy.md: GRPO's held-out proxy and golden reward and KL against steps, per arm."""
    exp = records["experiments"].get("grpo_smollm")
    if exp is None:
        return _missing("experiments", "grpo_smollm")
    out = [
        "| arm | step | proxy gain [95% CI] | golden gain [95% CI] | KL, nats per answer [95% CI] |",
        "|---|---|---|---|---|",
    ]
    for row in exp["tables"]["curves"]:
        out.append(
            f"| {row['arm']} | {row['step']} | {_ci(row, 'proxy_gain')} | {_ci(row, 'golden_gain')} "
            f"| {_ci(row, 'kl', sign=False)} |"
        )
    setup = exp["setup"]
    grpo, evaluation, penalty = setup["grpo"], setup["evaluation"], setup["penalty"]
    seconds = ", ".join(f"{arm} {run['seconds']:.0f} s" for arm, run in setup["runs"].items())
    out += [
        "",
        f"- policy: {setup['policy']}; {grpo['max_steps']} GRPO steps per arm, {grpo['prompts_per_step']} "
        f"prompts × {grpo['num_generations']} completions of at most {grpo['max_completion_length']} "
        f"tokens a step, learning rate {grpo['learning_rate']:g}, beta {grpo['beta']:g}, "
        f"{setup['n_train_prompts']} training prompts;",
        f"- proxy: {setup['proxy']['head']} on `{setup['proxy']['representation']}`, "
        f"{setup['proxy']['n_pairs']} noisy pairs from {setup['proxy']['n_prompts']} prompts; golden: "
        f"{setup['golden']['head']} on `{setup['golden']['representation']}`, {setup['golden']['n_pairs']} "
        f"noiseless pairs from {setup['golden']['n_prompts']} prompts;",
        f"- penalty arm: an ensemble of {penalty['members']} proxy heads served with mean − "
        f"{penalty['k']:g} × std of the members;",
        f"- evaluation: {evaluation['held_out_prompts']} held-out prompts × "
        f"{evaluation['answers_per_prompt']} sampled answers every {evaluation['every']} steps;",
    ]
    out += [f"- {f}" for f in exp["findings"]]
    out += ["", f"Run time {exp['runtime_s']:.0f} s (training: {seconds}). {_source(exp)}"]
    return "\n".join(out)


#: (page, block name, renderer): the generated blocks of README.md and the guides.
BLOCKS: tuple[tuple[str, str, Callable[[dict[str, dict[str, dict]]], str]], ...] = (
    ("README.md", "representations", render_representations),
    ("docs/active.md", "active-strategies", render_active),
    ("docs/active.md", "active-select", render_benchmark_output("active_select")),
    (
        "docs/annotate.md",
        "annotate-next-batch",
        render_benchmark_output("annotate_next_batch", markdown=True),
    ),
    ("docs/policy.md", "bon-smollm", render_bon),
    ("docs/policy.md", "dpo-smollm", render_dpo),
    ("docs/policy.md", "grpo-smollm", render_grpo),
    ("docs/scaling.md", "out-of-core", render_benchmark_output("out_of_core", markdown=True)),
    ("docs/scaling.md", "ray-embed", render_benchmark_output("ray_embed", markdown=True)),
    ("docs/serve.md", "serve-load", render_benchmark_output("serve_load", markdown=True)),
)


def render_blocks(text: str, page: str, records: dict[str, dict[str, dict]]) -> str:
    """``text`` (the page ``page``) with each of its generated blocks rendered afresh."""
    for where, name, render in BLOCKS:
        if where != page:
            continue
        start, end = markers(name)
        if start not in text or end not in text:
            raise SystemExit(f"{page} lacks the markers {start} ... {end}")
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{start}\n{render(records)}\n{end}{tail}"
    return text


# --- Figures in prose that no record holds --------------------------------------------------

#: Decimal figures of a guide's prose that are definitions (defaults, sizes, versions), not
#: results, so no record need hold them: figure -> why.
DEFINITIONS: dict[str, str] = {
    "0.02": "LGBMHead's default learning rate (docs/heads.md)",
    "0.03": "BTMLP's default weight decay per training pair (docs/heads.md)",
    "1.16": "the TRL version embrm.policy is tested against (docs/policy.md)",
    "1,024": "default chunk/shard sizes and the token limit of a format (code defaults)",
    "3,000": "LightGBM's round cap and the planted-direction test's pair count (settings)",
    "10,240": "the PyTorch reference MLP's minibatch size (a setting, docs/heads.md)",
    "16,384": "fit_indexed's default chunk_size, in rows (a code default)",
    "32,768": "the active strategies' pass chunk, in rows (a code default)",
    "524,288": "fit_indexed's block of pairs (a code constant)",
    "30,000": "the label count of a test's merge (tests/embed, a test setting)",
    "200,000": "fit_indexed's cap on the pairs its preconditioner reads (a code constant)",
    "2,307": "hh-harmless's pair count (the data set)",
    "4,614": "hh-harmless's text count, 2 x 2,307 (the data set)",
}

_FIGURE = re.compile(r"(?<![\w.,])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+)(?![\w]|[.,]\d)")


def prose(markdown: str) -> str:
    """``markdown`` without what is not prose: fenced and indented code blocks, inline code,
    generated blocks (``<!-- NAME:start -->`` to ``<!-- NAME:end -->``), HTML comments and
    link targets."""
    text = re.sub(r"<!-- ([\w-]+):start -->.*?<!-- \1:end -->", "", markdown, flags=re.S)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    lines, fence, previous_blank, indented = [], None, True, False
    for line in text.splitlines():
        stripped = line.lstrip()
        if fence is not None:
            if stripped.startswith(fence):
                fence = None
            continue
        if stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
            continue
        code = (line.startswith(("    ", "\t")) and (previous_blank or indented)) and bool(stripped)
        indented = code or (indented and not stripped)
        previous_blank = not stripped
        if not code:
            lines.append(line)
    text = "\n".join(lines)
    text = re.sub(r"(`+)(?:(?!\1).)+?\1", "", text)  # inline code
    return re.sub(r"\]\([^)]*\)", "]", text)  # link targets (paths, URLs)


def figures(markdown: str) -> list[str]:
    """The decimal figures of ``markdown``'s prose: ``0.621``, ``59.5`` (of ``59.5%``) and
    numbers with thousands separators (``3,770``); plain integers are not figures here."""
    return _FIGURE.findall(prose(markdown))


def record_text(root: Path = RECORDS) -> str:
    """Every value of every committed record (``docs/results/**/*.json``), one per line."""
    leaves: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                leaves.append(str(key))
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        else:
            leaves.append(str(value))

    for path in sorted(root.rglob("*.json")):
        walk(json.loads(path.read_text()))
    return "\n".join(leaves)


def in_records(figure: str, records: str) -> bool:
    """Whether ``figure`` occurs in ``records`` as a whole number (``0.62`` is not in
    ``0.621``), with or without its thousands separators."""
    for form in {figure, figure.replace(",", "")}:
        if re.search(rf"(?<![\d.,]){re.escape(form)}(?![\d]|[.,]\d)", records):
            return True
    return False


def unrecorded_figures(markdown: str, records: str, allowed: dict[str, str] | None = None) -> list[str]:
    """The figures of ``markdown``'s prose that no record holds and that are not definitions."""
    allowed = DEFINITIONS if allowed is None else allowed
    return [f for f in figures(markdown) if f not in allowed and not in_records(f, records)]


def guides(root: Path = ROOT) -> list[Path]:
    """README.md and the guides under docs/ (not the generated results page, not the changelog)."""
    skip = {"results.md", "changelog.md"}
    return [root / "README.md", *sorted(p for p in (root / "docs").glob("*.md") if p.name not in skip)]


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
    atomic_write_text(readme, render_blocks(render_readme(readme.read_text(), records), "README.md", records))
    pages = sorted({page for page, _, _ in BLOCKS} - {"README.md"})
    for page in pages:
        path = ROOT / page
        atomic_write_text(path, render_blocks(path.read_text(), page, records))
    n = sum(len(v) for v in records.values())
    print(f"wrote {args.page}, {readme} and the blocks of {', '.join(pages)} from {n} records")


if __name__ == "__main__":
    main()
