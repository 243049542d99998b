"""GPU check of the ONNX encoder: CUDA vectors against CPU vectors, and the speed ratio.

Embeds the same real (prompt, response) pairs (alpacaeval answers and hh-harmless dialogues)
with all-MiniLM-L6-v2 three ways, in one run, each in a scratch vector cache (the exported
model is reused):

- ``cpu fp32``: ``Encoder(device="cpu")``, the reference;
- ``cuda fp32``: ``Encoder(device="cuda")`` (ONNX Runtime's CUDA provider);
- ``cuda fp16``: the same graph converted to float16 (inputs and outputs kept float32) and
  run on the CUDA provider, outside the Encoder: embrm does not ship this variant; the row
  says whether it would be worth it.

Prints, per row: the providers the session really got, seconds, texts/s, the ratio to CPU,
and the cosine of each vector to the CPU vector (mean and min). Needs ``onnxruntime-gpu``
(``pip uninstall onnxruntime && pip install 'embrm[gpu]'``) and a CUDA device; without one
it says so and exits with status 2.

    python benchmarks/gpu_check.py --n-texts 2000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def _fp16_session(model_dir: Path, out: Path):
    import onnx
    import onnxruntime as ort
    from onnxruntime.transformers.onnx_model import OnnxModel

    model = OnnxModel(onnx.load(str(model_dir / "model.onnx")))
    model.convert_float_to_float16(keep_io_types=True)
    model.save_model_to_file(str(out))
    return ort.InferenceSession(str(out), providers=["CUDAExecutionProvider", "CPUExecutionProvider"])


def _run_fp16(session, tokenizer, texts: list[str], batch_size: int) -> np.ndarray:
    from embrm.embed import pool

    order = np.argsort([len(t) for t in texts], kind="stable")
    out = np.zeros((len(texts), 384), dtype=np.float32)
    names = {i.name for i in session.get_inputs()}
    for start in range(0, len(texts), batch_size):
        rows = order[start : start + batch_size]
        encodings = tokenizer.encode_batch([texts[i] for i in rows])
        length = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(rows), length), dtype=np.int64)
        mask = np.zeros_like(ids)
        for k, e in enumerate(encodings):
            ids[k, : len(e.ids)], mask[k, : len(e.ids)] = e.ids, 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        vectors = pool(session.run(None, feeds)[0].astype(np.float32), mask, "mean")
        out[rows] = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-texts", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()

    from tokenizers import Tokenizer

    from embrm import Encoder, load_dataset
    from embrm.embed import available_devices

    if "cuda" not in available_devices():
        print("No CUDA device usable by ONNX Runtime here (needs onnxruntime-gpu and a GPU): not run.")
        return 2
    alpaca = load_dataset("alpacaeval").frame.sample(args.n_texts // 2, seed=0)
    hh = load_dataset("hh-harmless").frame.sample(args.n_texts - args.n_texts // 2, seed=0)
    prompts = alpaca["prompt"].to_list() + hh["prompt"].to_list()
    responses = alpaca["response"].to_list() + hh["chosen"].to_list()
    real = Encoder(device="cpu", show_progress=False)
    real.session  # noqa: B018 - export once, into the real cache
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        vectors = {}
        for device in ("cpu", "cuda"):
            with tempfile.TemporaryDirectory(dir=cache) as sub:
                (Path(sub) / "models").symlink_to(real.cache_dir / "models", target_is_directory=True)
                enc = Encoder(device=device, cache_dir=sub, batch_size=args.batch_size, show_progress=False)
                enc.encode_responses(["warm-up"], ["warm-up"])
                start = time.perf_counter()
                vectors[device] = enc.encode_responses(prompts, responses)
                rows.append((f"{device} fp32 (Encoder)", enc.providers, time.perf_counter() - start))
        texts, _ = real.render_responses(prompts, responses)
        tokenizer = Tokenizer.from_file(str(real.model_dir / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(real.source.max_seq_length)
        session = _fp16_session(real.model_dir, Path(cache) / "model-fp16.onnx")
        _run_fp16(session, tokenizer, texts[:8], args.batch_size)  # warm-up
        start = time.perf_counter()
        vectors["cuda fp16"] = _run_fp16(session, tokenizer, texts, args.batch_size)
        rows.append(("cuda fp16 (converted graph)", session.get_providers(), time.perf_counter() - start))
    n, cpu_s = len(texts), rows[0][2]
    print(f"\n{n} real (prompt, response) pairs, batch {args.batch_size}\n")
    print("| path | providers | seconds | texts/s | × cpu | cosine to cpu (mean, min) |")
    print("|---|---|---|---|---|---|")
    for (name, providers, seconds), key in zip(rows, ("cpu", "cuda", "cuda fp16"), strict=True):
        cos = _cosine(vectors[key], vectors["cpu"])
        print(
            f"| {name} | {providers[0]} | {seconds:.2f} | {n / seconds:.1f} | {cpu_s / seconds:.2f} | "
            f"{cos.mean():.5f}, {cos.min():.5f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
