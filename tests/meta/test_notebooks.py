"""Every notebook in docs/notebooks/ runs top to bottom on the quick real subsets, shows the
numbers and figures it is there to show (each within the range the quick data give), and is
committed without outputs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from _require import require

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "docs" / "notebooks").glob("*.ipynb"))


def test_there_is_a_quickstart():
    assert ROOT / "docs" / "notebooks" / "quickstart.ipynb" in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    nbformat = require("nbformat")
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: strip outputs"


# --- what each notebook must show --------------------------------------------------------------


def _outputs(nb) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


def _text(nb) -> str:
    """What the notebook printed (stdout) and the plain-text form of every displayed value, in
    order. Printed text is joined as it came: a busy kernel may flush one line in pieces."""
    parts = []
    for o in _outputs(nb):
        if o.output_type == "stream":
            parts.append(o["text"] if o.get("name") == "stdout" else "")
        else:
            parts.append("\n" + o.get("data", {}).get("text/plain", "") + "\n")
    return "".join(parts)


def _figures(nb) -> int:
    return sum("image/png" in o.get("data", {}) for o in _outputs(nb))


def _number(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    assert found, f"no match for {pattern!r} in the notebook's output"
    return float(found.group(1))


def _is_number(cell: str) -> bool:
    return cell == "null" or re.fullmatch(r"-?\d+(\.\d+)?(e[-+]?\d+)?", cell) is not None


def _cell(cell: str) -> float | None:
    return None if cell == "null" else float(cell)


def _table(nb, first_column: str) -> dict[str, list[float | None]]:
    """The rows of the displayed polars table whose first column holds ``first_column``:
    ``{row name: [numbers]}`` (null as None)."""
    for output in _outputs(nb):
        plain = output.get("data", {}).get("text/plain", "")
        rows = {}
        for line in plain.splitlines():
            if "┆" in line:
                cells = [c.strip() for c in line.strip().strip("│").split("┆")]
                rows[cells[0]] = cells[1:]
        if first_column in rows:
            return {k: [_cell(v) for v in vals] for k, vals in rows.items() if all(map(_is_number, vals))}
    raise AssertionError(f"no displayed table with a row {first_column!r}")


def _check_quickstart(nb):
    text = _text(nb)
    assert "all-MiniLM-L6-v2" in text and "400 pairs, 384 features" in text
    assert "2040 responses to 40 prompts" in text
    # cross-validated BT head on 400 HH pairs (quick: 0.5975 [0.555, 0.6475])
    report = _table(nb, "pairwise_accuracy")
    accuracy, low, high = report["pairwise_accuracy"]
    assert 0.55 < accuracy < 0.65 and low < accuracy < high
    assert report["n_pairs"][0] == 400
    # heads against the baselines on 40 AlpacaEval prompts (columns: bon@all, spearman, accuracy)
    heads = _table(nb, "bt-linear")
    assert heads["golden"][1:] == [1.0, 1.0] and heads["random"][2] == 0.5 and heads["random"][1] is None
    assert 0.6 < heads["bt-linear"][2] < 0.7 and 0.58 < heads["classifier"][2] < 0.68  # 0.654, 0.628
    assert heads["bt-linear"][0] > heads["random"][0] + 3  # Best-of-51: -0.32 against -6.86
    assert heads["golden"][0] == max(row[0] for row in heads.values())
    assert 0.7 < _number(r"training pairwise accuracy: ([\d.]+)", text) < 0.85  # 0.776
    assert _figures(nb) >= 1  # the Best-of-N curves


def _check_active_annotation(nb):
    text = _text(nb)
    assert "CandidatePool(n_pairs=896, n_responses=1530)" in text
    first = _number(r"30 labels: held-out pairwise accuracy ([\d.]+)", text)  # 0.609
    second = _number(r"60 labels: held-out pairwise accuracy ([\d.]+)", text)  # 0.622
    assert 0.55 < first < 0.7 and 0.55 < second < 0.7
    assert "no pair asked twice: True" in text
    assert _figures(nb) >= 1  # Best-of-N after each round


def _check_policy(nb):
    text = _text(nb)
    assert re.search(r"^6 prompts, \[\d+(, \d+){5}\] answers each$", text, re.M)
    assert _number(r"(\d+) training pairs; head trained on all-MiniLM", text) > 1000  # 1695
    picks = re.findall(r"pick (\d+) reward ([-+][\d.]+) \(median ([-+][\d.]+)\)", text)
    assert len(picks) == 6
    assert all(float(reward) >= float(median) for _, reward, median in picks)  # the best of N
    assert "num_rows: 6" in text and "'role': 'user'" in text
    chosen = _number(r"chosen\s+([-\d.e]+) ", text)
    rejected = _number(r"rejected\s+([-\d.e]+) ", text)
    assert chosen > rejected
    assert re.search(r"\d+ pairs with a reward gap above 1.0", text)
    assert '"prompt":[{"role":"user"' in text  # the JSON lines file
    assert _figures(nb) >= 1  # every candidate's reward, the pick in red


def _check_token_rewards(nb):
    text = _text(nb)
    n_pairs = _number(r"(\d+) pairs; held-out pairwise accuracy", text)
    accuracy = _number(r"pairs; held-out pairwise accuracy ([\d.]+)", text)
    assert n_pairs == 400 and 0.5 < accuracy < 0.7  # 0.562 on 80 held-out pairs
    assert _number(r"largest \|sum of parts - reward\|: ([-\d.e]+)", text) < 1e-6  # 2e-8
    html = next(o["data"]["text/html"] for o in _outputs(nb) if "text/html" in o.get("data", {}))
    assert html.count("<b>chosen</b>") == 2 and html.count("<b>rejected</b>") == 2
    assert html.count("<span style=") > 20  # one coloured span per token
    for line in ("lowers the reward most: ", "raises the reward most: "):
        tokens = text.split(line, 1)[1].splitlines()[0].split(", ")
        assert len(tokens) == 12
    assert _figures(nb) >= 1  # the bar chart of token totals


CHECKS = {
    "quickstart.ipynb": _check_quickstart,
    "active_annotation.ipynb": _check_active_annotation,
    "policy.ipynb": _check_policy,
    "token_rewards.ipynb": _check_token_rewards,
}


def test_every_notebook_has_its_checks():
    assert sorted(CHECKS) == sorted(p.name for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_runs_on_the_quick_subsets(path, data_dir, alpaca_embedded, hh_embedded, monkeypatch):
    # The session fixtures embed the quick subsets first, so the notebook only reads the cache.
    nbformat = require("nbformat")
    nbclient = require("nbclient")
    monkeypatch.setenv("EMBRM_DATA_DIR", str(data_dir))
    monkeypatch.delenv("EMBRM_NOTEBOOK_FULL", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()  # raises on a cell's error
    CHECKS[path.name](nb)
