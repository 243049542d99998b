"""What the policy experiments share: the prompt split, the proxy and golden heads, and SmolLM2
generations cached on disk.

Prompt split (AlpacaEval ids, seeded): ``held_out`` prompts are answered by SmolLM2 and
never seen by a head; ``proxy`` prompts give the proxy head its few labels; ``golden``
prompts (all the rest) train the golden head; ``policy_train`` prompts (a subset of the golden
prompts' texts, never held out) are what DPO trains on. The proxy and golden heads share no
prompt, hence no pair.

- **proxy**: BT linear on ``minilm`` (the cheapest representation, one MiniLM window per
  answer), trained on few noisy labels: ``pairs_per_prompt`` pairs on each proxy prompt,
  labelled by a simulated Bradley-Terry annotator at ``beta`` from the judge score.
- **golden**: BT-MLP on ``minilm+length`` (MiniLM plus log length and a truncation flag),
  trained on noiseless judge pairs of every golden prompt.

``--quick`` trains both on the 40 fixture prompts (split between them) and reads SmolLM2
answers from ``docs/notebooks/policy_candidates.json`` (generated once by
``experiments/bon_smollm.py --write-candidates``): ``bon_smollm.py --quick`` needs no LM.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _common import N_ALPACA_PROMPTS, REPO, Context, quick_prompt_ids

from embrm import Encoder, load_dataset
from embrm.data import within_prompt_pairs
from embrm.embed import default_cache_dir
from embrm.heads import BTMLP, BTLinear

CANDIDATES_FILE = REPO / "docs" / "notebooks" / "policy_candidates.json"
PROXY_REPRESENTATION, GOLD_REPRESENTATION = "minilm", "minilm+length"


@dataclass
class Split:
    """AlpacaEval prompt ids by role."""

    held_out: np.ndarray
    proxy: np.ndarray
    golden: np.ndarray
    policy_train: np.ndarray


def split_prompts(ctx: Context, n_held_out: int, n_proxy: int, n_policy_train: int = 0) -> Split:
    """Seeded prompt roles (see the module docstring). Quick: heads on the fixture prompts,
    held-out prompts = those of the committed candidate file."""
    rng = np.random.RandomState(ctx.seed)
    if ctx.quick:
        fixture = rng.permutation(quick_prompt_ids())
        held = np.array(sorted(int(r["prompt_id"]) for r in read_candidate_file()))
        fixture = fixture[~np.isin(fixture, held)]
        return Split(held, np.sort(fixture[:n_proxy]), np.sort(fixture[n_proxy:]), np.array([], int))
    order = rng.permutation(N_ALPACA_PROMPTS)
    held, proxy = order[:n_held_out], order[n_held_out : n_held_out + n_proxy]
    rest = order[n_held_out + n_proxy :]
    return Split(np.sort(held), np.sort(proxy), np.sort(rest), np.sort(rest[:n_policy_train]))


@dataclass
class Heads:
    """The proxy and golden heads with their encoders, what they were trained on, and the proxy's
    labelled pairs (to fit other proxies, e.g. an ensemble, on the same labels)."""

    proxy: Any
    proxy_encoder: Encoder
    golden: Any
    golden_encoder: Encoder
    info: dict
    proxy_pairs: Any = None


def train_heads(ctx: Context, split: Split, *, proxy_pairs_per_prompt: int, proxy_beta: float,
                golden_pairs_per_prompt: int | None) -> Heads:
    """Fit the proxy (few noisy labels, ``minilm``) and the golden head (all noiseless judge
    pairs of the golden prompts, ``minilm+length``). Golden prompts whose answers are not all
    cached are dropped when ``--cached-only`` is given."""
    data = load_dataset("alpacaeval", ctx.args.data_dir)
    proxy_encoder = Encoder(PROXY_REPRESENTATION, cache_dir=ctx.args.cache_dir, show_progress=False)
    golden_encoder = Encoder(GOLD_REPRESENTATION, cache_dir=ctx.args.cache_dir, show_progress=False)
    golden_ids = split.golden
    if ctx.args.cached_only and not ctx.quick:
        frame = data.filter_prompts(golden_ids).frame
        found = proxy_encoder.cached_mask(frame["prompt"].to_list(), frame["response"].to_list())
        complete = [p for p in golden_ids if found[frame["prompt_id"].to_numpy() == p].all()]
        print(f"--cached-only: {len(complete)} of {len(golden_ids)} golden prompts fully cached")
        golden_ids = np.array(complete)
    proxy_pairs = within_prompt_pairs(data.filter_prompts(split.proxy), proxy_pairs_per_prompt,
                                      beta=proxy_beta, random_state=ctx.seed)
    golden_pairs = within_prompt_pairs(data.filter_prompts(golden_ids), golden_pairs_per_prompt,
                                     random_state=ctx.seed + 1)
    assert not set(proxy_pairs.frame["prompt"]) & set(golden_pairs.frame["prompt"])
    proxy = BTLinear().fit_pairs(proxy_pairs, proxy_encoder)
    ctx.new_texts += int(proxy_encoder.last_stats.get("new", 0))
    golden = BTMLP(random_state=ctx.seed).fit_pairs(golden_pairs, golden_encoder)
    ctx.new_texts += int(golden_encoder.last_stats.get("new", 0))
    info = {
        "proxy": {"head": "bt-linear", "representation": PROXY_REPRESENTATION,
                  "n_prompts": int(len(split.proxy)), "n_pairs": len(proxy_pairs),
                  "beta": proxy_beta,
                  "label_error_rate": float(proxy_pairs.frame["flipped"].mean())},
        "golden": {"head": "bt-mlp", "representation": GOLD_REPRESENTATION,
                 "n_prompts": int(len(golden_ids)), "n_pairs": len(golden_pairs),
                 "label_error_rate": 0.0},
        "held_out_prompts": int(len(split.held_out)),
    }
    return Heads(proxy, proxy_encoder, golden, golden_encoder, info, proxy_pairs)


def score(heads: Heads, prompts: list[str], candidates: list[list[str]], ctx: Context
          ) -> tuple[np.ndarray, np.ndarray]:
    """Proxy and golden rewards of every candidate, shape (n_prompts, n) each."""
    from embrm.policy import score_candidates

    out = []
    for head, encoder in ((heads.proxy, heads.proxy_encoder), (heads.golden, heads.golden_encoder)):
        out.append(np.stack(score_candidates(head, encoder, prompts, candidates)))
        ctx.new_texts += int(encoder.last_stats.get("new", 0))
    return out[0], out[1]


# -- generations --------------------------------------------------------------------------
@dataclass(frozen=True)
class Sampling:
    """How answers are sampled (part of the cache key)."""

    n: int
    temperature: float = 0.7
    top_p: float = 0.9
    max_new_tokens: int = 48

    def key(self, model_id: str, seed: int) -> str:
        text = json.dumps([model_id, self.n, self.temperature, self.top_p, self.max_new_tokens, seed])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def generation_dir(ctx: Context) -> Path:
    return (Path(ctx.args.cache_dir) if ctx.args.cache_dir else default_cache_dir()) / "generations"


class Policy:
    """A causal LM, loaded on first use, with its identity for the generation cache."""

    def __init__(self, model: Any = None, tokenizer: Any = None, model_id: str = "SmolLM2-135M-Instruct"):
        self.model, self.tokenizer, self.model_id = model, tokenizer, model_id

    def load(self) -> Policy:
        if self.model is None:
            import torch

            from embrm.policy import load_policy_model

            # One torch thread unless told otherwise: on a shared 2-core machine two
            # spinning OpenMP threads make small matmuls several times slower.
            torch.set_num_threads(int(os.environ.get("EMBRM_TORCH_THREADS", "1")))

            self.model, self.tokenizer = load_policy_model()
        return self


def generate_cached(ctx: Context, policy: Policy, prompt_ids: np.ndarray, prompts: list[str],
                    sampling: Sampling) -> list[list[str]]:
    """``sampling.n`` answers per prompt, read from or appended to a JSONL file keyed by the
    model, the sampling settings and the seed. Each prompt is one ``generate`` batch seeded
    by (seed, prompt id), so a prompt's answers do not depend on which others are asked."""
    from embrm.policy import generate_candidates

    path = generation_dir(ctx) / f"{policy.model_id}-{sampling.key(policy.model_id, ctx.seed)}.jsonl"
    done: dict[int, list[str]] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            row = json.loads(line)
            done[int(row["prompt_id"])] = row["answers"]
    todo = [(int(p), t) for p, t in zip(prompt_ids, prompts, strict=True) if int(p) not in done]
    if todo:
        path.parent.mkdir(parents=True, exist_ok=True)
        policy.load()
        print(f"generating {sampling.n} answers for {len(todo)} prompts ({len(done)} cached) -> {path}")
        for k, (pid, text) in enumerate(todo):
            answers = generate_candidates(
                policy.model, [text], sampling.n, tokenizer=policy.tokenizer,
                temperature=sampling.temperature, top_p=sampling.top_p,
                max_new_tokens=sampling.max_new_tokens, batch_size=sampling.n,
                random_state=ctx.seed * 100_003 + pid)[0]
            done[pid] = answers
            with path.open("a") as f:
                f.write(json.dumps({"prompt_id": pid, "prompt": text, "answers": answers}) + "\n")
            print(f"  {k + 1}/{len(todo)} prompts", flush=True)
    return [done[int(p)] for p in prompt_ids]


def read_candidate_file() -> list[dict]:
    """The committed SmolLM2 answers: ``[{"prompt_id", "prompt", "answers"}, ...]``."""
    return json.loads(CANDIDATES_FILE.read_text())["prompts"]
