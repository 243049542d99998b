"""Mutation scores of the modules whose numbers users trust: how many small changes to the code
(a flipped comparison, a changed constant, a dropped argument) the default tests catch.

Each module is mutated by mutmut (3.x) in a scratch copy of the repository, and each mutant is
run against the fast tests that cover the module (the tests mutmut's own coverage pass finds
among the files named below). A mutant is *killed* when a test fails or times out; it
*survives* when every test passes. Survivors that cannot change any result (an equivalent
mutant) are listed in ``benchmarks/mutation_equivalent.py`` with a one-line reason each; the
score is ``killed / (mutants - equivalent)``.

Usage::

    python benchmarks/mutation_score.py                      # every module below (an hour or more)
    python benchmarks/mutation_score.py --modules evaluate.bon,active.strategies --max-children 2
    python benchmarks/mutation_score.py --modules evaluate.bon --keep   # reuse the scratch copy

Prints one table row per module and the surviving, non-equivalent mutants (``mutmut show
NAME`` in ``results/mutation/<module>`` prints a mutant's diff). Run it without ``CI`` set: a
test skipped for a missing part must not count as a kill.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import ROOT, recorded  # noqa: E402
from mutation_equivalent import EQUIVALENT  # noqa: E402

#: module name -> (the file mutated, the test files run against it)
MODULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "evaluate.bon": ("embrm/evaluate/_bon.py", ("tests/evaluate/test_bon.py",)),
    "evaluate.metrics": (
        "embrm/evaluate/_metrics.py",
        ("tests/evaluate/test_pair_rank_metrics.py", "tests/evaluate/test_eval_reports.py"),
    ),
    "evaluate.bootstrap": (
        "embrm/evaluate/_bootstrap.py",
        (
            "tests/evaluate/test_bootstrap.py",
            "tests/evaluate/test_eval_reports.py",
            "tests/evaluate/test_compare.py",
        ),
    ),
    "active.strategies": (
        "embrm/active/_strategies.py",
        (
            "tests/active/test_strategies.py",
            "tests/active/test_strategies_mutants.py",
            "tests/active/test_design_options.py",
            "tests/active/test_strategies_pinned.py",
        ),
    ),
    "embed.token_rewards": ("embrm/embed/_token_rewards.py", ("tests/embed/test_static.py",)),
    "model_selection": (
        "embrm/model_selection.py",
        ("tests/test_model_selection.py", "tests/test_model_selection_infold.py"),
    ),
    "heads.bt": (
        "embrm/heads/_bt.py",
        (
            "tests/heads/test_heads_linear_and_mlp.py",
            "tests/heads/test_linear_fit_pinned.py",
            "tests/heads/test_heads_sparse.py",
        ),
    ),
    "heads.sparse": (
        "embrm/heads/_sparse.py",
        ("tests/heads/test_heads_sparse.py", "tests/heads/test_sparse_mutants.py"),
    ),
    "heads.linear": (
        "embrm/heads/_linear.py",
        (
            "tests/heads/test_heads_linear_and_mlp.py",
            "tests/heads/test_linear_fit_pinned.py",
            "tests/heads/test_streaming.py",
            "tests/heads/test_classifier_mutants.py",
        ),
    ),
    "heads.classifier": (
        "embrm/heads/_classifier.py",
        (
            "tests/heads/test_heads_classifier_lgbm.py",
            "tests/heads/test_classifier_mutants.py",
            "tests/heads/test_linear_fit_pinned.py",
            "tests/heads/test_streaming.py",
        ),
    ),
    "heads.base": (
        "embrm/heads/_base.py",
        (
            "tests/heads/test_heads_contract.py",
            "tests/heads/test_base_mutants.py",
            "tests/heads/test_heads_sparse.py",
            "tests/heads/test_sparse_mutants.py",
        ),
    ),
    "embed.cache": (
        "embrm/embed/_cache.py",
        (
            "tests/embed/test_cache.py",
            "tests/embed/test_cache_mutants.py",
            "tests/reliability/test_reliability_cache_records.py",
            "tests/reliability/test_reliability_cache_paths.py",
            "tests/reliability/test_reliability_faults.py",
        ),
    ),
    "policy.scoring": ("embrm/policy/_scoring.py", ("tests/policy/test_best_of_n.py",)),
    "policy.dpo": (
        "embrm/policy/_dpo.py",
        ("tests/policy/test_dpo_data.py", "tests/policy/test_policy_errors.py", "tests/test_renamed.py"),
    ),
    "data.io": (
        "embrm/data/_io.py",
        (
            "tests/data/test_readers_malformed.py",
            "tests/data/test_containers_io.py",
            "tests/data/test_tables_mutants.py",
        ),
    ),
}
STATUSES = ("killed", "timeout", "survived", "no tests", "suspicious", "segfault", "skipped", "not checked")
_RESULT = re.compile(r"^\s*(\S+): (.+)$")


def _mutmut() -> str:
    exe = Path(sys.executable).with_name("mutmut")
    return str(exe) if exe.exists() else "mutmut"


def _config(source: str, tests: tuple[str, ...]) -> str:
    """The ``[tool.mutmut]`` table for one module.

    Workers fork from a fork server that has only collected the tests: forked from mutmut's
    main process (which has run the suite), a worker whose test fails can hang in pytest's
    report until mutmut's ~16 s wall limit, so a survivor slower than that, or a hang, read as
    a "timeout" (a kill). Measured on evaluate.bon: 37 of 283 mutants "timed out" that way,
    some of them survivors; with the fork server none did, at 4 times the speed.
    """
    quoted = ", ".join(f'"{t}"' for t in tests)
    return (
        "\n[tool.mutmut]\n"
        'source_paths = ["embrm/"]\n'
        f'only_mutate = ["{source}"]\n'
        f"pytest_add_cli_args_test_selection = [{quoted}]\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-o", "addopts=", "-m", "not slow", "-q", "-x"]\n'
        'process_isolation = "forkserver"\n'
    )


def _scratch(name: str, source: str, tests: tuple[str, ...], keep: bool) -> Path:
    """A copy of the package, the tests and pyproject.toml (with the module's mutmut table)."""
    folder = ROOT / "results" / "mutation" / name
    if folder.exists() and not keep:
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for part in ("embrm", "tests"):
        shutil.copytree(ROOT / part, folder / part, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    text = (ROOT / "pyproject.toml").read_text()
    (folder / "pyproject.toml").write_text(text.split("\n[tool.mutmut]")[0] + _config(source, tests))
    return folder


#: mutmut's exit codes of a kill (a failing test, a pytest error, a timeout, a crash)
_KILL_CODES = {1, 3, 24, -24, 36, 152, 255, -9, -11}


def _reset_unkilled(folder: Path) -> int:
    """Forget the cached verdict of every mutant not killed, so that new tests are tried on it.

    mutmut keeps a verdict until the mutated code changes: without this, a ``--keep`` run after
    adding a test would report the old survivors again. Kills stay (adding tests cannot undo one).
    """
    count = 0
    for meta in (folder / "mutants").rglob("*.py.meta"):
        data = json.loads(meta.read_text())
        codes = data.get("exit_code_by_key", {})
        for key, code in codes.items():
            if code is not None and code not in _KILL_CODES:
                codes[key] = None
                count += 1
        meta.write_text(json.dumps(data, indent=4))
    return count


def run_module(name: str, keep: bool, max_children: int) -> dict[str, list[str]]:
    """Mutate one module and return the mutant names by status."""
    source, tests = MODULES[name]
    folder = _scratch(name, source, tests, keep)
    if keep:
        _reset_unkilled(folder)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.setdefault("EMBRM_DATA_DIR", str(ROOT.parent / "shared" / "data"))
    env["PYTHONPATH"] = ""
    run = subprocess.run(
        [_mutmut(), "run", "--max-children", str(max_children)],
        cwd=folder, env=env, capture_output=True, text=True,
    )
    if "failed to collect stats" in run.stdout + run.stderr:
        raise RuntimeError(f"{name}: the tests do not pass unmutated:\n{run.stdout[-3000:]}")
    listing = subprocess.run(
        [_mutmut(), "results", "--all", "true"],
        cwd=folder, env=env, capture_output=True, text=True, check=True,
    ).stdout
    by_status: dict[str, list[str]] = {s: [] for s in STATUSES}
    for line in listing.splitlines():
        match = _RESULT.match(line)
        if match:
            by_status.setdefault(match.group(2), []).append(match.group(1))
    timeouts, by_status["timeout"] = by_status["timeout"], []
    for mutant, verdict in _recheck_all(folder, timeouts, tests, env, max_children).items():
        by_status[verdict].append(mutant)
    return by_status


def _recheck_all(
    folder: Path, mutants: list[str], tests: tuple[str, ...], env: dict[str, str], workers: int
) -> dict[str, str]:
    """:func:`_recheck` of each mutant, ``workers`` at a time, kept in ``rechecked.json``.

    A kept verdict of ``killed`` or ``timeout`` is reused while the mutated function is
    unchanged (its hash in mutmut's ``.meta`` files): adding tests cannot undo a kill. Any
    other verdict is checked again, so that a new test gets its chance.
    """
    hashes: dict[str, str] = {}
    for meta in (folder / "mutants").rglob("*.py.meta"):
        module = ".".join(meta.relative_to(folder / "mutants").with_suffix("").with_suffix("").parts)
        for function, digest in json.loads(meta.read_text()).get("hash_by_function_name", {}).items():
            hashes[f"{module}.{function}"] = digest
    store = folder / "rechecked.json"
    kept = json.loads(store.read_text()) if store.exists() else {}
    verdicts: dict[str, str] = {}
    todo = []
    for mutant in mutants:
        digest = hashes.get(mutant.rsplit("__mutmut_", 1)[0], "")
        old = kept.get(mutant)
        if old and old["hash"] == digest and old["verdict"] in ("killed", "timeout"):
            verdicts[mutant] = old["verdict"]
        else:
            todo.append((mutant, digest))
    with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
        checked = pool.map(lambda item: _recheck(folder, item[0], tests, env), todo)
        for (mutant, digest), verdict in zip(todo, checked, strict=True):
            verdicts[mutant] = verdict
            kept[mutant] = {"hash": digest, "verdict": verdict}
    store.write_text(json.dumps(kept, indent=1, sort_keys=True))
    return verdicts


def _recheck(folder: Path, mutant: str, tests: tuple[str, ...], env: dict[str, str]) -> str:
    """The verdict on a mutant mutmut timed out, from the tests in a fresh process.

    mutmut's wall limit is 15 x (the tests' measured time + 1 s), about 16 s for fast tests,
    and a slow machine or a stuck worker (see :func:`_config`) reaches it: a timeout is not
    trusted as a kill until a fresh ``pytest -x`` with the mutant active fails (killed),
    passes (survived) or runs past 120 s (timeout).
    """
    env = env | {"MUTANT_UNDER_TEST": mutant, "PYTHONPATH": str(folder / "mutants")}
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=",
               "-m", "not slow", "-q", "-x", *tests]
    try:
        run = subprocess.run(command, cwd=folder / "mutants", env=env, capture_output=True, timeout=120)
    except subprocess.TimeoutExpired:
        return "timeout"
    return {0: "survived", 1: "killed", 3: "killed", 5: "no tests"}.get(run.returncode, "suspicious")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", default=",".join(MODULES), help="comma-separated names of MODULES")
    parser.add_argument("--max-children", type=int, default=1, help="mutants run at once")
    parser.add_argument("--keep", action="store_true", help="reuse results/mutation/<module>")
    args = parser.parse_args(argv)
    names = [n for n in args.modules.split(",") if n]
    unknown = sorted(set(names) - set(MODULES))
    if unknown:
        parser.error(f"unknown modules {unknown}; choose from {sorted(MODULES)}")
    print("| module | mutants | killed | timeout | survived | equivalent | no tests | score | minutes |")
    print("|---|---|---|---|---|---|---|---|---|")
    open_survivors: list[str] = []
    for name in names:
        started = time.perf_counter()
        by_status = run_module(name, args.keep, args.max_children)
        total = sum(len(v) for v in by_status.values())
        killed, timeout = len(by_status["killed"]), len(by_status["timeout"]) + len(by_status["segfault"])
        unkilled = [m for s, v in by_status.items() if s not in ("killed", "timeout", "segfault") for m in v]
        equivalent = [m for m in unkilled if m in EQUIVALENT]
        open_survivors += [m for m in unkilled if m not in EQUIVALENT]
        score = (killed + timeout) / max(total - len(equivalent), 1)
        print(
            f"| {name} | {total} | {killed} | {timeout} | {len(by_status['survived'])} | {len(equivalent)} | "
            f"{len(by_status['no tests'])} | {score:.1%} | {(time.perf_counter() - started) / 60:.1f} |",
            flush=True,
        )
    print(f"\n{len(open_survivors)} surviving mutants neither killed nor listed as equivalent")
    for mutant in open_survivors:
        print(f"- {mutant}")


if __name__ == "__main__":
    with recorded("benchmarks/mutation_score.py"):
        main()
