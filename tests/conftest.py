"""Session-scoped real embeddings from the shipped model, shared by every test module.

The data come from ``$EMBRM_DATA_DIR`` (default: ``../shared/data`` beside the repository)
and the vectors from the embedding cache (``$EMBRM_CACHE_DIR`` or the per-user default), so
only the first run on a machine pays for embedding (~3k texts, a minute or two on 2 cores).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("EMBRM_DATA_DIR", REPO.parent / "shared" / "data"))
N_HH_PAIRS = 400
N_ALPACA_PROMPTS = 40


# Skips that are allowed under CI=true: each is about what a test is, not about a missing part of
# the install or the machine. Every other skip fails a CI run (see pytest_runtest_makereport).
CI_ALLOWED_SKIPS: dict[str, str] = {
    # pytest's doctest plugin skips a docstring whose every example is marked +SKIP (examples
    # that need a trained model or a cluster); nothing is missing.
    "all tests skipped by +SKIP option": "a docstring whose examples are all illustrative (+SKIP)",
}


def missing_data_action(ci: str | None) -> str:
    """What a test needing the real data does without it: "fail" under CI (``CI`` set to a
    true value, as CI services do), else "skip"."""
    return "fail" if (ci or "").strip().lower() in {"1", "true", "yes"} else "skip"


def _require_data() -> Path:
    if not (DATA_DIR / "hh_rlhf_harmless_test.parquet").is_file():
        message = f"real data not found in {DATA_DIR}: set EMBRM_DATA_DIR"
        if missing_data_action(os.environ.get("CI")) == "fail":
            pytest.fail(f"{message} (CI=true: missing data fails the run instead of skipping)")
        pytest.skip(message)
    return DATA_DIR


@dataclass
class EmbeddedPairs:
    """Real pairs, embedded: chosen/rejected rows aligned, one group per prompt."""

    data: object  # embrm.data.PreferencePairs
    X_win: np.ndarray
    X_lose: np.ndarray
    groups: np.ndarray
    length_chosen: np.ndarray
    length_rejected: np.ndarray


@dataclass
class EmbeddedScored:
    """Real scored responses, embedded: golden score and prompt id per row."""

    data: object  # embrm.data.ScoredResponses
    X: np.ndarray
    golden: np.ndarray
    groups: np.ndarray
    length: np.ndarray


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real data directory (skips when absent)."""
    return _require_data()


@pytest.fixture(autouse=True)
def private_model_store(tmp_path_factory, monkeypatch) -> Path:
    """An empty model store of the test's own (``$EMBRM_MODEL_DIR``).

    An encoder a test builds on a scratch cache then finds only the models the test copied
    into that cache (or exports them there), so a test that damages or replaces a model never
    touches the machine's store. Session fixtures, built before this, use the machine's store.
    """
    store = tmp_path_factory.mktemp("model-store")
    monkeypatch.setenv("EMBRM_MODEL_DIR", str(store))
    return store


@pytest.fixture(scope="session")
def encoder():
    """The default encoder (all-MiniLM-L6-v2 through ONNX Runtime) on the shared cache."""
    from embrm import Encoder

    return Encoder(show_progress=False)


@pytest.fixture
def fresh_cache(tmp_path, encoder) -> Path:
    """An empty vector cache that reuses the already exported ONNX model (no re-export)."""
    encoder.session  # noqa: B018 - export once per machine, into the shared cache
    shutil.copytree(encoder.model_dir, tmp_path / "models" / encoder.identity)
    return tmp_path


@pytest.fixture(scope="session")
def static_model_dir() -> Path:
    """The distilled static model's folder in the shared cache (distilled once per machine);
    copy it into a scratch cache's ``models/`` so an encoder there does not distil again."""
    from embrm import Encoder

    static = Encoder("static", show_progress=False)
    static.static_model  # noqa: B018 - distil once per machine, into the shared cache
    return static.model_dir


@pytest.fixture(scope="session")
def alpaca_prompt_ids(data_dir) -> np.ndarray:
    """A fixed, seeded subset of alpacaeval prompt ids."""
    return np.sort(np.random.RandomState(0).choice(805, size=N_ALPACA_PROMPTS, replace=False))


@pytest.fixture(scope="session")
def hh_embedded(data_dir, encoder) -> EmbeddedPairs:
    """The first 400 hh-harmless pairs, embedded."""
    from embrm import load_dataset

    pairs = load_dataset("hh-harmless", data_dir).take(np.arange(N_HH_PAIRS))
    X_win, X_lose = pairs.embed(encoder)
    return EmbeddedPairs(
        pairs,
        X_win,
        X_lose,
        pairs.groups,
        pairs.frame["chosen"].str.len_chars().to_numpy(),
        pairs.frame["rejected"].str.len_chars().to_numpy(),
    )


def _embed_scored(name: str, data_dir: Path, encoder, prompt_ids: np.ndarray) -> EmbeddedScored:
    from embrm import load_dataset

    scored = load_dataset(name, data_dir).filter_prompts(prompt_ids)
    return EmbeddedScored(
        scored,
        scored.embed(encoder),
        scored.scores,
        scored.groups,
        scored.frame["response"].str.len_chars().to_numpy(),
    )


@pytest.fixture(scope="session")
def alpaca_embedded(data_dir, encoder, alpaca_prompt_ids) -> EmbeddedScored:
    """40 alpacaeval prompts x 51 answers, embedded, with golden scores."""
    return _embed_scored("alpacaeval", data_dir, encoder, alpaca_prompt_ids)


@pytest.fixture(scope="session")
def null_embedded(data_dir, encoder, alpaca_prompt_ids) -> EmbeddedScored:
    """The null-model attack answer for the same 40 prompts, embedded."""
    return _embed_scored("alpacaeval-nullmodel", data_dir, encoder, alpaca_prompt_ids)


# --- CI cannot go green with a part missing -------------------------------------------------


def _under_ci() -> bool:
    return missing_data_action(os.environ.get("CI")) == "fail"


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (path, line, "Skipped: reason")
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _fail_if_skipped_under_ci(report) -> None:
    """Under CI=true, turn a skip into a failure unless its reason is on CI_ALLOWED_SKIPS."""
    if not (_under_ci() and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = _skip_reason(report)
    if any(allowed in reason for allowed in CI_ALLOWED_SKIPS):
        return
    report.outcome = "failed"
    report.longrepr = (
        f"skipped under CI=true: {reason}\n"
        "CI installs every optional part (scripts/setup.sh), so a skip means something is missing "
        "or a test cannot run on this machine. Fix the install, make the test run, or add the "
        "reason to CI_ALLOWED_SKIPS in tests/conftest.py with why it is not a missing part."
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    _fail_if_skipped_under_ci(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    report = yield  # a module-level skip (pytest.importorskip at import) is a collection skip
    _fail_if_skipped_under_ci(report)
    return report


def pytest_sessionfinish(session, exitstatus):
    """Under CI=true a run that collects no test fails (pytest's exit code 5 would otherwise be
    one accident away from green, e.g. a marker expression or a path that selects nothing)."""
    if _under_ci() and exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if _under_ci() and exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        terminalreporter.write_line(
            "CI=true: no test was collected, which fails the run (pytest's exit code 5 -> 1).", red=True
        )
