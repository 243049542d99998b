"""Write docs/notebooks/quickstart.ipynb (outputs stripped) from the cells below.

The notebook is the source readers open; this script only keeps its cells reviewable as
code. ``tests/meta/test_notebooks.py`` executes every notebook of docs/notebooks/ and checks
that none is committed with outputs.
"""

from pathlib import Path

import nbformat

CELLS = [
    (
        "markdown",
        """# embrm quickstart: load data, embed, train heads, evaluate

Research on a laptop: every step below runs on a CPU in seconds once the texts are embedded
(the vectors are cached on disk, so only the first run pays for embedding).

The notebook uses small real subsets (400 HH-RLHF harmless pairs and 40 AlpacaEval prompts
with their 51 answers each) so it runs quickly; set `EMBRM_NOTEBOOK_FULL=1` to use all of
both data sets. The data directory comes from `EMBRM_DATA_DIR` (default `../shared/data`
beside the checkout).""",
    ),
    (
        "code",
        """import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import polars as pl

import embrm
from embrm.evaluate import BestOfNDisplay, bon_curve, evaluate_pairs, evaluate_rewards
from embrm.heads import BTLinear, ClassifierHead
from embrm.model_selection import baseline_rewards, cross_val_rewards

repo = Path.cwd().resolve()
while not (repo / "pyproject.toml").is_file() and repo != repo.parent:
    repo = repo.parent
DATA_DIR = Path(os.environ.get("EMBRM_DATA_DIR", repo.parent / "shared" / "data"))
FULL = os.environ.get("EMBRM_NOTEBOOK_FULL") == "1"
encoder = embrm.Encoder(show_progress=False)  # all-MiniLM-L6-v2 through ONNX Runtime
print(encoder.identity)""",
    ),
    (
        "markdown",
        """## 1. Human preference pairs: HH-RLHF harmless

A `PreferencePairs` set holds a prompt, the chosen and the rejected response of each pair.
`pairs.embed(encoder)` gives the embeddings of both sides, row-aligned (`X_win`, `X_lose`:
see `docs/glossary.md`).""",
    ),
    (
        "code",
        """pairs = embrm.load_dataset("hh-harmless", DATA_DIR)
if not FULL:
    pairs = pairs.take(np.arange(400))
X_win, X_lose = pairs.embed(encoder)
print(len(pairs), "pairs,", X_win.shape[1], "features")""",
    ),
    (
        "markdown",
        """Cross-fitting by prompt: each pair is rewarded by a head trained on the other folds'
prompts, so the accuracy below is held-out.""",
    ),
    (
        "code",
        """result = cross_val_rewards(BTLinear(), pairs, (X_win, X_lose), cv=5, random_state=0)
report = evaluate_pairs(result.reward_win, result.reward_lose, pairs.groups, n_bootstrap=200, random_state=0)
report""",
    ),
    (
        "markdown",
        """## 2. Scored responses: AlpacaEval with a golden reward

Each prompt has 51 answers from different models, scored by a judge (`scores`, the golden
score). Training pairs are built *inside* each fold from that fold's training prompts
(`within_prompt_pairs`, labelled by the golden score), and the out-of-fold rewards of every
prompt are evaluated together: exact Best-of-N, rank correlation, pairwise accuracy.""",
    ),
    (
        "code",
        """scored = embrm.load_dataset("alpacaeval", DATA_DIR)
if not FULL:
    scored = scored.filter_prompts(np.sort(np.random.RandomState(0).choice(805, 40, replace=False)))
X = scored.embed(encoder)
print(len(scored), "responses to", len(np.unique(scored.groups)), "prompts")""",
    ),
    (
        "code",
        """heads = {"bt-linear": BTLinear(), "classifier": ClassifierHead(random_state=0)}
rewards = {name: cross_val_rewards(head, scored, X, cv=3, random_state=0).reward
           for name, head in heads.items()}
rewards.update(baseline_rewards(scored))  # random, longest, golden
rows = []
for name, r in rewards.items():
    report = evaluate_rewards(r, scored.scores, scored.groups, n_bootstrap=0)
    values = dict(zip(report["metric"], report["value"], strict=True))
    rows.append({"reward": name, **{m: values[m] for m in ("bon@all", "spearman", "pairwise_accuracy")}})
pl.DataFrame(rows)  # spearman is null for the constant (random) reward""",
    ),
    (
        "markdown",
        """## 3. Best-of-N curves

The expected golden score of the pick with the highest reward among N answers, exactly (no
sampling), from N = 1 (a random answer) to all 51.""",
    ),
    (
        "code",
        """display = BestOfNDisplay.from_predictions(rewards["bt-linear"], scored.scores, scored.groups,
                                           name="BT linear")
for name in ("classifier", "longest"):
    curve = bon_curve(rewards[name], scored.scores, scored.groups)
    BestOfNDisplay(curve, name=name).plot(ax=display.ax_, baselines=False)
display.ax_.legend()
plt.show()""",
    ),
    (
        "markdown",
        """## 4. One head on all the data

`within_prompt_pairs` builds labelled pairs from a scored set; `pairs.gather(X)` gives their
embeddings as `(X_win, X_lose)`. The fitted head rewards any embedded response and can be
saved without pickle.""",
    ),
    (
        "code",
        """from embrm.data import within_prompt_pairs

train_pairs = within_prompt_pairs(scored, pairs_per_prompt=50, random_state=0)
head = BTLinear().fit(*train_pairs.gather(X), groups=train_pairs.groups, encoder_id=encoder.identity)
print("training pairwise accuracy:", round(head.score(*train_pairs.gather(X)), 3))
print("rewards of the first 3 answers:", head.reward(X[:3]).round(3))""",
    ),
]


def build() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell(src) if kind == "markdown" else nbformat.v4.new_code_cell(src)
        for kind, src in CELLS
    ]
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"
    return nb


if __name__ == "__main__":
    path = Path(__file__).resolve().parents[1] / "docs" / "notebooks" / "quickstart.ipynb"
    nbformat.write(build(), path)
    print("wrote", path)
