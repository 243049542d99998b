"""Helpers of the labelling page's tests: a small round written as `embrm select` writes one."""

from __future__ import annotations

from pathlib import Path

import polars as pl

#: Answers that would run script if the page put them into the DOM as HTML.
XSS_ANSWERS = (
    "<script>window.__pwned = 1</script>",
    '<img src=x onerror="window.__pwned = 2">',
    "[click me](javascript:window.__pwned=3)",
)


def write_round(folder: Path, n: int = 5, answers: tuple[str, ...] = ()) -> Path:
    """A query file of ``n`` pairs in ``folder`` (the round's folder); returns its path."""
    from embrm.active import write_queries

    folder.mkdir(parents=True, exist_ok=True)
    a = [answers[i] if i < len(answers) else f"answer a{i}" for i in range(n)]
    frame = pl.DataFrame(
        {
            "pair_id": [f"p{i:02d}" for i in range(n)],
            "prompt_id": [str(i) for i in range(n)],
            "prompt": [f"prompt {i}" for i in range(n)],
            "response_a": a,
            "response_b": [f"answer b{i}" for i in range(n)],
            "label": [None] * n,
        },
        schema_overrides={"label": pl.String},
    )
    return write_queries(frame, folder / "queries.csv")
