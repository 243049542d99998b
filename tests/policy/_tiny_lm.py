"""A tiny random causal LM for fast TRL tests: :func:`embrm.testing.make_tiny_causal_lm` (a
2-layer Llama and a word-level tokenizer with a chat template, built locally)."""

from __future__ import annotations

from embrm.testing import make_tiny_causal_lm as tiny_llama

__all__ = ["tiny_llama"]
