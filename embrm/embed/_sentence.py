"""The sentence-encoder backend: a sentence-transformers model through ONNX Runtime.

Three views of a (prompt, response) pair (see :mod:`embrm.embed._representations`):
``joint`` (one window, format ``pr-v2``), ``windows`` (the whole response in consecutive
windows, ``win-v1``) and ``split`` (prompt and response apart, ``[r, sqrt(d) * (p * r)]``).
The model is exported to ONNX once per machine (:mod:`embrm.embed._onnx`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from tokenizers import Tokenizer

from embrm.embed._backend import RAW_TEXT_FORMAT, BackendOptions, Plan, exporting, l2_normalise, pick
from embrm.embed._cache import pair_keys, text_keys
from embrm.embed._onnx import ModelSource, export_onnx, load_export, pool, resolve_model
from embrm.embed._render import TEXT_FORMAT_VERSION, WINDOWS_FORMAT_VERSION, render_pairs, render_windows
from embrm.embed._store import locate_model

VIEWS = ("joint", "windows", "split")
SPLIT_FORMAT_VERSION = "split-v1"


def split_plan(keys_of_texts, prompts: list[str], responses: list[str]) -> Plan:
    """Prompts (each distinct one once) and responses embedded apart, combined as
    ``[r, sqrt(d) * (p * r)]`` (the split view of the sentence and static backends).

    Example
    -------
    >>> plan = split_plan(lambda texts: [t.encode() for t in texts], ["p", "p"], ["a", "b"])
    >>> plan.keys
    [b'p', b'a', b'b']
    >>> plan.combine(np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])).tolist()
    [[1.0, 0.0, 1.4142135381698608, 0.0], [0.0, 1.0, 0.0, 0.0]]
    """
    row_of = {p: i for i, p in enumerate(dict.fromkeys(prompts))}
    texts = [*row_of, *responses]

    def combine(both: np.ndarray) -> np.ndarray:
        p, r = both[[row_of[q] for q in prompts]], both[len(row_of) :]
        return np.hstack([r, np.sqrt(r.shape[1]) * p * r]).astype(np.float32)

    def rows_found(found: np.ndarray) -> np.ndarray:
        return found[[row_of[q] for q in prompts]] & found[len(row_of) :]

    return Plan(keys_of_texts(texts), lambda rows: pick(texts, rows), len, combine, rows_found)


def view_dim(infer: Callable[[list[str]], np.ndarray], view: str, cached: int | None = None) -> int:
    """Width of a text backend's vectors under ``view``: the stored width (``cached``, or one
    probe text through ``infer`` when unknown), doubled by the split view (``[r, sqrt(d) * (p * r)]``).

    Example
    -------
    >>> view_dim(lambda texts: np.zeros((len(texts), 4)), "split")
    8
    >>> view_dim(lambda texts: np.zeros((len(texts), 4)), "joint", cached=384)
    384
    """
    base = cached or infer(["dimension probe"]).shape[1]
    return base * (2 if view == "split" else 1)

class SentenceBackend:
    """A sentence-transformers model (all-MiniLM-L6-v2 by default) run by ONNX Runtime.

    Parameters
    ----------
    options : BackendOptions
        ``view`` one of ``VIEWS`` (default ``"joint"``); ``layer`` must be None; batch size
        32 by default.

    Example
    -------
    >>> from pathlib import Path
    >>> options = BackendOptions(model=None, cache_dir=Path("~/.cache/embrm"))
    >>> SentenceBackend(options).identity  # doctest: +SKIP
    'all-MiniLM-L6-v2-53aa51172d14-fp32'
    """

    name = "sentence"

    @staticmethod
    def accepts(model: object) -> bool:
        """Any model no other backend claims: a sentence-transformers folder or hub id."""
        return True

    def __init__(self, options: BackendOptions) -> None:
        self.view = options.view or "joint"
        if self.view not in VIEWS:
            raise ValueError(f"A sentence encoder's view is one of {VIEWS}, got {self.view!r}.")
        if options.layer is not None:
            raise ValueError("layer applies to causal LMs only; a sentence encoder has one output.")
        self.options = options
        self.source: ModelSource = resolve_model(options.model, options.cache_dir)
        self.batch_size = options.batch_size or 32
        self.cache_identity = self.source.identity(options.variant)
        suffix = {"joint": "", "windows": "+" + WINDOWS_FORMAT_VERSION, "split": "+" + SPLIT_FORMAT_VERSION}
        self.identity = self.cache_identity + suffix[self.view]
        self.model_dir = locate_model(options.cache_dir, self.cache_identity)
        self.n_inference_calls = 0
        self._session = None
        self._plain_tokenizer: Tokenizer | None = None

    @property
    def window(self) -> int:
        """Tokens of text one window holds (the model's window less its two special tokens)."""
        return self.source.max_seq_length - 2

    @property
    def session(self):
        """The ONNX Runtime session, exporting the model first if needed (checked on load)."""
        if self._session is None:
            with exporting(self.model_dir):
                export_onnx(self.source, self.options.variant, self.model_dir)
            session, tokenizer, _ = load_export(self.model_dir, self.options.device, self.options.num_threads)
            tokenizer.no_padding()
            tokenizer.enable_truncation(self.source.max_seq_length)
            self._tokenizer = tokenizer
            self._input_names = {i.name for i in session.get_inputs()}
            self._session = session
        return self._session

    @property
    def plain_tokenizer(self) -> Tokenizer:
        """The model's tokenizer without padding or truncation."""
        if self._plain_tokenizer is None:
            tokenizer = Tokenizer.from_file(str(self.source.path / "tokenizer.json"))
            tokenizer.no_padding()
            tokenizer.no_truncation()
            self._plain_tokenizer = tokenizer
        return self._plain_tokenizer

    def render(self, prompts: list[str], responses: list[str]) -> tuple[list[str], list[bool]]:
        """The joint view's texts (format ``pr-v2``) and which of them were cut."""
        return render_pairs(prompts, responses, self.plain_tokenizer, self.window)

    def text_plan(self, texts: list[str]) -> Plan:
        """Raw texts, each its own cache key."""
        return Plan(text_keys(texts, RAW_TEXT_FORMAT), lambda rows: pick(texts, rows), len)

    def plan(self, prompts: list[str], responses: list[str]) -> Plan:
        """The rows' keys and combination under this backend's view."""
        if self.view == "joint":

            def render(rows: list[int]) -> list[str]:
                return self.render(pick(prompts, rows), pick(responses, rows))[0]

            return Plan(pair_keys(prompts, responses, TEXT_FORMAT_VERSION), render, len)
        if self.view == "split":
            return split_plan(lambda texts: text_keys(texts, RAW_TEXT_FORMAT), prompts, responses)
        texts, owner, weight = render_windows(prompts, responses, self.plain_tokenizer, self.window)

        def pooled(windows: np.ndarray) -> np.ndarray:
            out = np.zeros((len(prompts), windows.shape[1]))
            np.add.at(out, np.asarray(owner), windows * np.asarray(weight, dtype=np.float64)[:, None])
            return l2_normalise(out).astype(np.float32)

        def rows_found(found: np.ndarray) -> np.ndarray:
            return np.bincount(np.asarray(owner), weights=~found, minlength=len(prompts)) == 0

        keys = text_keys(texts, RAW_TEXT_FORMAT)
        return Plan(keys, lambda rows: pick(texts, rows), len, pooled, rows_found)

    def infer(self, texts: list[str]) -> np.ndarray:
        """Pooled (and, if the model normalises, unit) vectors of a batch of texts."""
        session = self.session
        encodings = self._tokenizer.encode_batch_fast(texts)
        length = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), length), dtype=np.int64)
        mask = np.zeros_like(ids)
        for i, e in enumerate(encodings):
            ids[i, : len(e.ids)] = e.ids
            mask[i, : len(e.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = session.run(None, feeds)[0]
        self.n_inference_calls += 1
        vectors = pool(hidden, mask, self.source.pooling).astype(np.float32)
        return l2_normalise(vectors) if self.source.normalize else vectors

    def truncated(self, prompts: list[str], responses: list[str]) -> list[bool]:
        """Joint: the rendered text was cut; windows: never; split: a text exceeds the window."""
        if self.view == "joint":
            return self.render(prompts, responses)[1]
        if self.view == "windows":
            return [False] * len(prompts)
        texts = [*prompts, *responses]
        lengths = [len(e.ids) for e in self.plain_tokenizer.encode_batch(texts, add_special_tokens=False)]
        n = len(prompts)
        return [lengths[i] > self.window or lengths[n + i] > self.window for i in range(n)]

    def dim(self, cached: int | None = None) -> int:
        """Width of the view's vectors (``cached``: the cache's stored width, if known)."""
        return view_dim(self.infer, self.view, cached)

    def describe(self) -> dict:
        """Model, folder, window, pooling, view and text format."""
        return {
            "backend": self.name,
            "model": self.source.name,
            "model_path": str(self.source.path),
            "variant": self.options.variant,
            "view": self.view,
            "max_seq_length": self.source.max_seq_length,
            "pooling": self.source.pooling,
            "text_format": {"joint": TEXT_FORMAT_VERSION, "windows": WINDOWS_FORMAT_VERSION}.get(
                self.view, RAW_TEXT_FORMAT
            ),
        }

