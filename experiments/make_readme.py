"""Rebuild the results table of experiments/README.md from the experiments' summary.json files.

Numbers in the README are never typed by hand: run the experiments (full mode writes
``results/<experiment>/summary.json``; quick mode with ``--out results/quick/<experiment>``),
then

    python experiments/make_readme.py

replaces everything between ``<!-- results:start -->`` and ``<!-- results:end -->``. An
experiment with no summary in ``results/`` keeps its row from the README as it stands (and its
runtime counts in the total), so rerunning one experiment on a fresh clone leaves the others'
last full runs in place.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ("alpacaeval_benchmark", "hh_harmless", "noise_bt_vs_classifier", "ensembles_hacking",
         "drm_decomposition", "representations", "bon_smollm", "dpo_smollm")
START, END = "<!-- results:start -->", "<!-- results:end -->"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _load(folder: Path) -> dict[str, dict]:
    found = {}
    for name in ORDER:
        path = folder / name / "summary.json"
        if path.is_file():
            found[name] = json.loads(path.read_text())
    return found


def _rows(table: str) -> dict[str, str]:
    """The README's current row of each experiment, by name."""
    rows = {}
    for line in table.splitlines():
        found = re.search(r"`python experiments/(\w+)\.py`", line)
        if found and found.group(1) in ORDER:
            rows[found.group(1)] = line
    return rows


def _kept_runtime(row: str) -> float | None:
    """Seconds of a kept row's full run, or None where it was not run."""
    found = re.search(r"\| (\d+) s \(", row)
    return float(found.group(1)) if found else None


def render(full: dict[str, dict], quick: dict[str, dict], kept: dict[str, str] | None = None) -> str:
    """The results table: a row from each full summary, else the kept row, else 'not run'."""
    kept = kept or {}
    lines = [
        "| # | experiment | command | runtime (full) | runtime (--quick) | headline numbers "
        "(last full run) | what they mean |",
        "|---|---|---|---|---|---|---|",
    ]
    total, warm, n_kept = 0.0, True, 0
    for i, name in enumerate(ORDER, 1):
        s = full.get(name)
        q = quick.get(name)
        quick_time = f"{q['runtime_s']:.0f} s" if q else "–"
        kept_runtime = _kept_runtime(kept.get(name, ""))
        if s is None and kept_runtime is not None:
            lines.append(kept[name])
            total += kept_runtime
            warm &= "warm cache" in kept[name]
            n_kept += 1
            continue
        if s is None:
            lines.append(f"| {i} | {name} | `python experiments/{name}.py` | not run | {quick_time} "
                         "| – | – |")
            continue
        total += s["runtime_s"]
        warm &= bool(s["warm_cache"])
        cache = "warm cache" if s["warm_cache"] else f"{s['new_embeddings']} texts embedded"
        mode = " (quick!)" if s["quick"] else ""
        if s.get("cached_only"):
            # the policy experiments: the gold head's prompts are the ones that must be cached
            prompts = s["setup"].get("prompts", s["setup"].get("gold", {}).get("n_prompts", "?"))
            mode += f" (only the {prompts} fully cached prompts)"
        headline = "<br>".join(f"{_cell(k)}: {_cell(v)}" for k, v in s["headline"].items())
        meaning = "<br>".join(f"• {_cell(f)}" for f in s["findings"])
        lines.append(
            f"| {i} | {_cell(s['title'])}{mode} | `{s['command']}` | {s['runtime_s']:.0f} s "
            f"({cache}; {s['finished_utc']} UTC) | {quick_time} | {headline} | {meaning} |")
    machine = next(iter(full.values()))["machine"] if full else "?"
    lines += [
        "",
        f"All {len(full) + n_kept} full runs together: **{total / 60:.1f} minutes** on this machine "
        f"({machine}{f'; {n_kept} kept from earlier runs, see their dates' if n_kept else ''}), "
        f"{'from a warm embedding cache' if warm else 'NOT all from a warm cache'}"
        "; single-threaded heads, one experiment at a time.",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=str(HERE.parent / "results"),
                        help="folder with <experiment>/summary.json of the full runs")
    parser.add_argument("--quick-results", default=None,
                        help="folder with the quick runs' summaries (default <results>/quick)")
    parser.add_argument("--readme", default=str(HERE / "README.md"))
    args = parser.parse_args(argv)
    results = Path(args.results)
    full = {k: v for k, v in _load(results).items()}
    quick = _load(Path(args.quick_results) if args.quick_results else results / "quick")
    readme = Path(args.readme)
    text = readme.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{readme} lacks the markers {START} ... {END}")
    head, rest = text.split(START, 1)
    table, tail = rest.split(END, 1)
    kept = {name: row for name, row in _rows(table).items() if name not in full}
    readme.write_text(f"{head}{START}\n{render(full, quick, kept)}\n{END}{tail}")
    print(f"wrote {readme} from {len(full)} full and {len(quick)} quick summaries")


if __name__ == "__main__":
    main()
