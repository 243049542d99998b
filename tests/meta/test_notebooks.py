"""Every notebook in docs/notebooks/ runs top to bottom on the quick real subsets, and is
committed without outputs."""

from __future__ import annotations

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
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert any("image/png" in o.get("data", {}) for o in outputs), "a plot is drawn"
