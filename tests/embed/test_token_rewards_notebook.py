"""docs/notebooks/token_rewards.ipynb runs end to end (on 200 hh-harmless pairs)."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("model2vec")

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "notebooks" / "token_rewards.ipynb"


def test_token_rewards_notebook_runs(data_dir, monkeypatch):
    monkeypatch.setenv("EMBRM_DATA_DIR", str(data_dir))
    monkeypatch.setenv("EMBRM_NOTEBOOK_PAIRS", "200")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert not any(cell.get("outputs") for cell in notebook.cells), "keep the notebook's outputs stripped"
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
    text = "".join(
        o.get("text", "") + str(o.get("data", {}).get("text/html", ""))
        for cell in notebook.cells
        for o in cell.get("outputs", [])
    )
    assert "200 pairs; held-out pairwise accuracy" in text
    assert "<span style=" in text and "raises the reward most:" in text
