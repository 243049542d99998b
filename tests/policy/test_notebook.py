"""docs/notebooks/policy.ipynb runs top to bottom on the committed SmolLM2 answers, and is
kept in git without outputs."""

from __future__ import annotations

import os
from pathlib import Path

from _require import require

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "notebooks" / "policy.ipynb"


def test_committed_without_outputs():
    nbformat = require("nbformat")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


def test_notebook_runs(data_dir, alpaca_embedded):
    nbformat = require("nbformat")
    nbclient = require("nbclient")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    os.environ.setdefault("EMBRM_DATA_DIR", str(data_dir))
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "prompts," in text and "training pairs; head trained on all-MiniLM" in text
    assert "num_rows:" in text and "'role': 'user'" in text
    assert "pick " in text and "pairs with a reward gap above 1.0" in text
