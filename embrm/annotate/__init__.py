"""Annotation where annotators work: a local labelling page, the formats of the tools teams
already use, and the merge of several annotators' labels.

- :class:`AnnotationRound` / :class:`LabelLog`: a round's query file and its append-only,
  per-annotator label logs (durable the moment a label is given);
- :func:`create_annotate_app` / :func:`annotate`: the labelling page (``embrm annotate``),
  with :class:`NextBatch`, the active loop inside it;
- :func:`write_tasks` / :func:`read_votes`: Label Studio, Argilla and plain CSV/JSONL files;
- :func:`merge_votes` (``majority``, ``all``, ``dawid-skene``), :func:`vote_weights`,
  :func:`agreement` (Cohen's and Fleiss' kappa).

The page needs the ``serve`` extra (uvicorn, Starlette). See docs/annotate.md.
"""

from embrm._core.compat import renamed
from embrm.annotate._aggregate import MERGED_COLUMNS, RULES, merge_votes, vote_weights
from embrm.annotate._agreement import Agreement, agreement, cohen_kappa, fleiss_kappa
from embrm.annotate._app import create_annotate_app
from embrm.annotate._formats import LABEL_STUDIO_CONFIG, TOOLS, read_votes, write_tasks
from embrm.annotate._log import LABEL_VALUES, LabelLog, check_annotator
from embrm.annotate._loop import NextBatch
from embrm.annotate._round import AnnotationRound, check_no_round_labels
from embrm.annotate._server import annotate

__all__ = [
    "LABEL_STUDIO_CONFIG",
    "LABEL_VALUES",
    "TOOLS",
    "MERGED_COLUMNS",
    "RULES",
    "Agreement",
    "AnnotationRound",
    "LabelLog",
    "NextBatch",
    "annotate",
    "agreement",
    "check_annotator",
    "check_no_round_labels",
    "cohen_kappa",
    "create_annotate_app",
    "fleiss_kappa",
    "merge_votes",
    "read_votes",
    "vote_weights",
    "write_tasks",
]

#: Old names, kept for one release (each warns).
__getattr__ = renamed("embrm.annotate", {"aggregate": "embrm.annotate.merge_votes"})
