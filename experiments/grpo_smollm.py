"""GRPO on SmolLM2 against a proxy head served over HTTP, judged by a golden head.

TRL's GRPOTrainer trains SmolLM2-135M-Instruct on AlpacaEval prompts in three arms that
share the prompts, the seeds and the GRPO settings and differ only in the reward:

- ``proxy``: the proxy head of the Best-of-N experiment (``_policy.py``), saved and served
  by a real ``embrm serve`` process on a free loopback port, asked through
  ``embrm.policy.as_remote_reward_func``;
- ``proxy+penalty``: an ``Ensemble`` of proxy heads on the same pairs, served with
  ``--penalty lcb --penalty-weight k`` (mean minus k standard deviations of the members);
- ``golden``: the golden head itself, in-process through ``embrm.policy.as_trl_reward_func``.

Every ``--eval-every`` steps (and at the start) the policy samples answers to held-out
prompts (temperature 1, a fixed seed); the proxy and the golden head score them, and the KL
to the start policy is estimated on the same samples: per answer, the sum over its tokens
of log pi(y_t) - log pi_start(y_t). Means over held-out prompts carry 95% bootstrap
intervals over prompts; gains over the start are paired within prompts.

    python experiments/grpo_smollm.py --cached-only  # 3 arms x 16 steps, SmolLM2 on the CPU
    python experiments/grpo_smollm.py --quick        # a tiny random Llama, 2 steps per arm
"""

from __future__ import annotations

import argparse
import copy
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import config, figure, fmt_ci, parse_args, print_table, save_figure, write_csv, write_summary
from _policy import PROXY_REPRESENTATION, Policy, read_candidate_file, score, split_prompts, train_heads
from bon_smollm import FULL as BON_FULL
from bon_smollm import PROXY_BETA

import embrm
from embrm import load_dataset
from embrm.evaluate import bootstrap, ratio_of_sums
from embrm.heads import BTLinear, Ensemble

NAME = "grpo_smollm"
ARMS = ("proxy", "proxy+penalty", "golden")
QUICK = {"n_held_out": None, "n_proxy": 12, "n_policy_train": 0, "max_steps": 2, "eval_every": 1,
         "prompts_per_step": 1, "num_generations": 4, "max_completion_length": 8, "eval_answers": 2,
         "learning_rate": 5e-2, "proxy_pairs_per_prompt": 20, "golden_pairs_per_prompt": 50}
FULL = {"n_held_out": 16, "n_proxy": BON_FULL["n_proxy"], "n_policy_train": 32, "max_steps": 16,
        "eval_every": 4, "prompts_per_step": 2, "num_generations": 4, "max_completion_length": 24,
        "eval_answers": 2, "learning_rate": 5e-5,
        "proxy_pairs_per_prompt": BON_FULL["proxy_pairs_per_prompt"],
        "golden_pairs_per_prompt": BON_FULL["golden_pairs_per_prompt"]}
#: Full mode keeps prompts of at most this many characters (a step's cost grows with them).
MAX_PROMPT_CHARS = 300
#: --quick: prompts cut to this many words (the tiny LM has 64 positions).
QUICK_PROMPT_WORDS = 12
ENSEMBLE_MEMBERS = 5
SERVICE_START_S = 300.0


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-steps", type=int, default=None, help="GRPO steps per arm")
    parser.add_argument("--eval-every", type=int, default=None, help="evaluate every this many steps")
    parser.add_argument("--n-held-out", type=int, default=None, help="held-out prompts evaluated")
    parser.add_argument("--max-completion-length", type=int, default=None, help="tokens per completion")
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--penalty-weight", type=float, default=1.0,
                        help="k of the penalty arm: mean - k * std of the ensemble members")
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS), help="arms to run")


# -- the reward service ---------------------------------------------------------------------
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def reward_service(head_path: Path, *, model: str, cache_dir: str | None, penalty: str | None = None,
                   penalty_weight: float = 0.0, start_timeout: float = SERVICE_START_S
                   ) -> Iterator[tuple[str, subprocess.Popen]]:
    """``embrm serve head_path`` as a subprocess on a free loopback port, yielding its URL and
    process once ``/health`` answers; stopped with SIGTERM on leaving, whatever happened, a
    SIGTERM to this process included (killed if it has not exited 60 s later).

    Parameters
    ----------
    head_path : path
        A head saved with ``head.save``.
    model : str
        The representation it was trained on (``--model``).
    cache_dir : str, optional
        The embedding cache (``--cache-dir``).
    penalty, penalty_weight
        ``--penalty`` and ``--penalty-weight`` (an ensemble head).
    start_timeout : float
        Seconds to wait for ``/health``.

    Example
    -------
    >>> service = reward_service(Path("proxy.npz"), model="minilm", cache_dir=None)  # doctest: +SKIP
    >>> with service as (url, process):  # doctest: +SKIP
    ...     reward = as_remote_reward_func(url)
    """
    import httpx

    port = free_port()
    command = [sys.executable, "-m", "embrm.cli", "serve", str(head_path), "--model", model,
               "--port", str(port)]
    if cache_dir:
        command += ["--cache-dir", str(cache_dir)]
    if penalty:
        command += ["--penalty", penalty, "--penalty-weight", str(penalty_weight)]
    # the embrm this script imported, whatever the subprocess's working directory
    root = str(Path(embrm.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p),
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        # a SIGTERM to this script unwinds through the finally below (not a silent exit)
        previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
        try:
            deadline = time.monotonic() + start_timeout
            while True:
                if process.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"embrm serve exited with code {process.returncode} before answering: "
                                       f"{log.read().decode(errors='replace')[-2000:]}")
                try:
                    if httpx.get(f"{url}/health", timeout=2.0).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"embrm serve did not answer on {url} within {start_timeout:.0f} s")
                time.sleep(0.25)
            yield url, process
        finally:
            signal.signal(signal.SIGTERM, previous)
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def service_info(url: str) -> dict:
    """The service's ``GET /info``: head, penalty and counters."""
    import httpx

    return httpx.get(f"{url}/info", timeout=10.0).json()


# -- sampling and KL ------------------------------------------------------------------------
def sample_with_kl(model: Any, reference: Any, tokenizer: Any, prompts: Sequence[str], n: int, *,
                   max_new_tokens: int, seed: int, batch_size: int = 8) -> tuple[list[list[str]], np.ndarray]:
    """``n`` answers per prompt sampled from ``model`` (temperature 1, no top-k, top-p or
    repetition penalty: the model's own distribution, under ``torch.manual_seed(seed)``), and
    for each the sum over its tokens (up to and including the first end-of-sequence token) of
    ``log model(y_t) - log reference(y_t)``: a Monte-Carlo estimate of KL(model || reference)
    per answer, in nats.

    Returns
    -------
    answers : list of list of str
        ``answers[i]``: the ``n`` answers to ``prompts[i]``.
    kl : ndarray of shape (len(prompts), n)
    """
    import torch

    device = next(model.parameters()).device
    texts = [tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                           add_generation_prompt=True) for p in prompts for _ in range(n)]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    eos = tokenizer.eos_token_id
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    was_training = model.training
    model.eval()
    answers, kl = [], []
    try:
        torch.manual_seed(seed)
        for start in range(0, len(texts), batch_size):
            enc = tokenizer(texts[start:start + batch_size], return_tensors="pt", padding=True,
                            add_special_tokens=False).to(device)
            with torch.no_grad():
                out = model.generate(**enc, do_sample=True, temperature=1.0, top_p=1.0, top_k=0,
                                     repetition_penalty=1.0, max_new_tokens=max_new_tokens,
                                     pad_token_id=pad, eos_token_id=eos)
                width = enc["input_ids"].shape[1]
                completion = out[:, width:]
                is_eos = (completion == eos).long()
                keep = (is_eos.cumsum(1) - is_eos) == 0  # up to and including the first EOS
                attention = torch.cat([enc["attention_mask"], keep.long()], 1)
                positions = (attention.cumsum(1) - 1).clamp(min=0)
                logp = [_completion_logprobs(m, out, attention, positions, completion)
                        for m in (model, reference)]
                kl.append(((logp[0] - logp[1]) * keep).sum(1).cpu().numpy())
            for row, k in zip(completion, keep, strict=True):
                answers.append(tokenizer.decode(row[k], skip_special_tokens=True).strip())
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return ([answers[i * n:(i + 1) * n] for i in range(len(prompts))],
            np.concatenate(kl).astype(np.float64).reshape(len(prompts), n))


def _completion_logprobs(model: Any, ids: Any, attention: Any, positions: Any, completion: Any) -> Any:
    """log p(completion token | everything before it), shape (batch, completion length)."""
    import torch

    length = completion.shape[1]
    logits = model(input_ids=ids, attention_mask=attention, position_ids=positions,
                   logits_to_keep=length + 1).logits[:, :-1].float()
    return torch.log_softmax(logits, -1).gather(-1, completion[..., None]).squeeze(-1)


# -- one arm --------------------------------------------------------------------------------
def train_arm(start: Any, tokenizer: Any, reward: Callable, train_prompts: list[str], cfg: dict, ctx,
              evaluate: Callable[[Any, int], None]) -> dict:
    """GRPO from a copy of ``start`` with ``reward``, calling ``evaluate(policy, step)`` every
    ``cfg["eval_every"]`` steps and at the last; the training log and time."""
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    policy = copy.deepcopy(start)
    for p in policy.parameters():
        p.requires_grad_(True)
    policy.train()
    every = cfg["eval_every"]

    class EvaluateEvery(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step % every == 0 or state.global_step == state.max_steps:
                began = time.perf_counter()
                evaluate(policy, state.global_step)
                eval_seconds.append(time.perf_counter() - began)

    eval_seconds: list[float] = []
    cuda = torch.cuda.is_available()
    dataset = Dataset.from_dict({"prompt": [[{"role": "user", "content": p}] for p in train_prompts]})
    with tempfile.TemporaryDirectory() as tmp:
        args = GRPOConfig(
            output_dir=tmp, per_device_train_batch_size=cfg["prompts_per_step"] * cfg["num_generations"],
            num_generations=cfg["num_generations"], max_completion_length=cfg["max_completion_length"],
            max_steps=cfg["max_steps"], learning_rate=cfg["learning_rate"], lr_scheduler_type="constant",
            beta=0.0, temperature=1.0,
            logging_steps=1, seed=ctx.seed, use_cpu=not cuda, bf16=cuda, report_to="none",
            save_strategy="no", disable_tqdm=True)
        trainer = GRPOTrainer(model=policy, reward_funcs=reward, args=args, train_dataset=dataset,
                              processing_class=tokenizer, callbacks=[EvaluateEvery()])
        began = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - began
    name = reward.__name__
    log = [h for h in trainer.state.log_history if f"rewards/{name}/mean" in h]
    return {"reward_name": name, "train_reward": [h[f"rewards/{name}/mean"] for h in log],
            "train_reward_std": [h[f"rewards/{name}/std"] for h in log],
            "seconds": round(seconds - sum(eval_seconds), 1), "eval_seconds": round(sum(eval_seconds), 1)}


# -- prompts and models ---------------------------------------------------------------------
def _prompt_texts(ctx, ids: np.ndarray, n: int) -> list[str]:
    """The first ``n`` (by id) of the prompts ``ids`` that have at most MAX_PROMPT_CHARS characters."""
    frame = (load_dataset("alpacaeval", ctx.args.data_dir).filter_prompts(ids).frame
             .unique("prompt_id", keep="first").sort("prompt_id"))
    texts = [t for t in frame["prompt"].to_list() if len(t) <= MAX_PROMPT_CHARS][:n]
    if len(texts) < n:
        raise SystemExit(f"only {len(texts)} prompts of at most {MAX_PROMPT_CHARS} characters; asked for {n}")
    return texts


def prompts_and_policy(ctx, cfg: dict, split) -> tuple[list[str], list[str], Any, Any, str]:
    """Training prompts, held-out prompts, the start policy, its tokenizer and its name.

    Quick: the committed candidate file's prompts (cut to a few words), the first half for
    training and the rest held out, and a tiny random Llama whose vocabulary is their words
    and answers. Full: SmolLM2-135M-Instruct (``Policy``), policy-training and held-out prompts
    of the split."""
    if ctx.quick:
        from embrm.testing import make_tiny_causal_lm

        rows = read_candidate_file()
        cut = [" ".join(r["prompt"].split()[:QUICK_PROMPT_WORDS]) for r in rows]
        model, tokenizer = make_tiny_causal_lm([*cut, *(a for r in rows for a in r["answers"])],
                                               random_state=ctx.seed)
        half = len(rows) // 2
        return cut[:half], cut[half:], model, tokenizer, "tiny random Llama (embrm.testing)"
    policy = Policy().load()
    tokenizer = policy.tokenizer
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    held = _prompt_texts(ctx, split.held_out, cfg["n_held_out"])
    train = _prompt_texts(ctx, split.policy_train, cfg["n_policy_train"])
    return train, held, policy.model, tokenizer, policy.model_id


# -- tables ---------------------------------------------------------------------------------
METRICS = ("proxy", "golden", "kl", "proxy_gain", "golden_gain", "length")


def curve_rows(evals: dict[str, dict[int, dict[str, np.ndarray]]], ctx) -> list[dict]:
    """One row per arm and evaluated step: the mean over held-out prompts of each metric (per
    prompt: the mean over its answers) with a 95% bootstrap interval over prompts; gains are
    paired within prompts against step 0 (the start policy, the same for every arm)."""
    rows = []
    for arm, steps in evals.items():
        start = steps[0]
        for step, m in sorted(steps.items()):
            per_prompt = {"proxy": m["proxy"], "golden": m["golden"], "kl": m["kl"],
                          "proxy_gain": m["proxy"] - start["proxy"],
                          "golden_gain": m["golden"] - start["golden"],
                          "length": m["length"]}
            stacked = np.stack([per_prompt[k] for k in METRICS], axis=1)
            point, low, high = bootstrap(ratio_of_sums(stacked, np.ones_like(stacked)), len(stacked),
                                         n_bootstrap=ctx.args.n_bootstrap, confidence=0.95,
                                         random_state=ctx.seed)
            row: dict[str, Any] = {"arm": arm, "step": step}
            for i, key in enumerate(METRICS):
                row |= {key: float(point[i]), f"{key}_ci_low": float(low[i]),
                        f"{key}_ci_high": float(high[i])}
            rows.append(row)
    return rows


def paired_difference(a: np.ndarray, b: np.ndarray, ctx) -> dict[str, float]:
    """Mean over prompts of ``a - b`` (per-prompt values), with a 95% bootstrap interval."""
    diff = (a - b)[:, None]
    point, low, high = bootstrap(ratio_of_sums(diff, np.ones_like(diff)), len(diff),
                                 n_bootstrap=ctx.args.n_bootstrap, confidence=0.95, random_state=ctx.seed)
    return {"diff": float(point[0]), "diff_ci_low": float(low[0]), "diff_ci_high": float(high[0])}


def plot(ctx, table: pl.DataFrame, arms: Sequence[str]) -> None:
    fig, axes = figure(ncols=len(arms) + 1)
    for ax, arm in zip(axes, arms, strict=False):
        part = table.filter(pl.col("arm") == arm)
        for key, label, colour in (("proxy_gain", "proxy", "tab:orange"),
                                   ("golden_gain", "golden", "tab:blue")):
            ax.plot(part["step"], part[key], "o-", color=colour, label=label)
            ax.fill_between(part["step"], part[f"{key}_ci_low"], part[f"{key}_ci_high"], color=colour,
                            alpha=0.15)
        ax.axhline(0, color="black", lw=0.5)
        ax.set_title(f"arm: {arm}")
        ax.set_xlabel("GRPO step")
        ax.set_ylabel("held-out reward minus start (95% CI)")
        ax.legend(fontsize=8)
    ax = axes[len(arms)]
    for arm in arms:
        part = table.filter(pl.col("arm") == arm)
        ax.plot(part["step"], part["kl"], "o-", label=arm)
        ax.fill_between(part["step"], part["kl_ci_low"], part["kl_ci_high"], alpha=0.15)
    ax.set_title("KL to the start policy")
    ax.set_xlabel("GRPO step")
    ax.set_ylabel("nats per answer (95% CI)")
    ax.legend(fontsize=8)
    save_figure(ctx, fig, "grpo_curves")


# -- main -----------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> dict:
    from embrm.policy import as_remote_reward_func, as_trl_reward_func

    ctx = parse_args(NAME, __doc__, argv, _arguments)
    cfg = config(ctx, QUICK, FULL)
    for key in ("max_steps", "eval_every", "n_held_out", "max_completion_length", "learning_rate"):
        if getattr(ctx.args, key) is not None:
            cfg[key] = getattr(ctx.args, key)
    arms = [a for a in ARMS if a in ctx.args.arms]
    # full mode draws twice the prompts it needs for each role and keeps the short ones
    spare = 1 if ctx.quick else 2
    split = split_prompts(ctx, spare * (cfg["n_held_out"] or 0), cfg["n_proxy"],
                          spare * cfg["n_policy_train"])
    heads = train_heads(ctx, split, proxy_pairs_per_prompt=cfg["proxy_pairs_per_prompt"],
                        proxy_beta=PROXY_BETA, golden_pairs_per_prompt=cfg["golden_pairs_per_prompt"])
    train_prompts, held_prompts, start, tokenizer, model_name = prompts_and_policy(ctx, cfg, split)
    start.eval()
    for p in start.parameters():
        p.requires_grad_(False)

    def measure(policy: Any, step: int) -> dict[str, np.ndarray]:
        answers, kl = sample_with_kl(policy, start, tokenizer, held_prompts, cfg["eval_answers"],
                                     max_new_tokens=cfg["max_completion_length"], seed=ctx.seed)
        proxy, golden = score(heads, held_prompts, answers, ctx)
        length = np.array([[len(a) for a in row] for row in answers], float)
        print(f"  step {step}: proxy {proxy.mean():+.4f}, golden {golden.mean():+.4f}, "
              f"KL {kl.mean():.3f} nats",
              flush=True)
        return {"proxy": proxy.mean(1), "golden": golden.mean(1), "kl": kl.mean(1), "length": length.mean(1)}

    print(f"start policy ({model_name}) on {len(held_prompts)} held-out prompts:")
    at_start = measure(start, 0)
    proxy_path = ctx.out / "proxy_head.npz"
    ensemble_path = ctx.out / "proxy_ensemble.npz"
    heads.proxy.save(proxy_path)
    ensemble = Ensemble(BTLinear(), n_members=ENSEMBLE_MEMBERS, random_state=ctx.seed)
    ensemble.fit_pairs(heads.proxy_pairs, heads.proxy_encoder)
    ensemble.save(ensemble_path)

    evals: dict[str, dict[int, dict[str, np.ndarray]]] = {}
    runs: dict[str, dict] = {}
    for arm in arms:
        print(f"\narm {arm}: {cfg['max_steps']} GRPO steps", flush=True)
        evals[arm] = {0: at_start}
        record = lambda policy, step, arm=arm: evals[arm].__setitem__(step, measure(policy, step))  # noqa: E731
        if arm == "golden":
            reward = as_trl_reward_func(heads.golden, heads.golden_encoder, name="golden_head")
            runs[arm] = train_arm(start, tokenizer, reward, train_prompts, cfg, ctx, record)
            runs[arm]["reward_source"] = "golden head in-process (as_trl_reward_func)"
            continue
        penalty = arm == "proxy+penalty"
        with reward_service(ensemble_path if penalty else proxy_path, model=PROXY_REPRESENTATION,
                            cache_dir=ctx.args.cache_dir, penalty="lcb" if penalty else None,
                            penalty_weight=ctx.args.penalty_weight if penalty else 0.0) as (url, process):
            reward = as_remote_reward_func(url, name="proxy_service")
            try:
                runs[arm] = train_arm(start, tokenizer, reward, train_prompts, cfg, ctx, record)
                info = service_info(url)
            finally:
                reward.client.close()
        runs[arm]["reward_source"] = f"embrm serve subprocess ({url})"
        stats = info["stats"]
        runs[arm]["service"] = {"head": info["head"], "penalty": info["penalty"],
                                "penalty_weight": info["penalty_weight"], "requests": stats["requests"],
                                "answers": stats["answers"], "pid": stats["pid"],
                                "returncode": process.returncode}

    rows = curve_rows(evals, ctx)
    table = pl.DataFrame(rows)
    write_csv(ctx, table)
    print_table("GRPO on held-out prompts: reward and KL against steps (95% CI over prompts)", pl.DataFrame([
        {"arm": r["arm"], "step": r["step"], "proxy gain": fmt_ci(r, "proxy_gain"),
         "golden gain": fmt_ci(r, "golden_gain"), "KL (nats/answer)": fmt_ci(r, "kl"),
         "length (chars)": f"{r['length']:.0f}"} for r in rows]))
    plot(ctx, table, arms)

    last_step = max(evals[arms[0]])
    findings, headline, comparisons = [], {}, {}
    for arm in arms:
        part = [r for r in rows if r["arm"] == arm]
        last, peak = part[-1], max(part, key=lambda r: r["golden"])
        drop = paired_difference(evals[arm][peak["step"]]["golden"], evals[arm][last["step"]]["golden"], ctx)
        headline[arm] = (f"step {last['step']}: proxy gain {fmt_ci(last, 'proxy_gain')}, golden gain "
                         f"{fmt_ci(last, 'golden_gain')}, KL {fmt_ci(last, 'kl')}")
        shape = (f"golden is highest at step {peak['step']} ({peak['golden_gain']:+.3f}) and "
                 f"{drop['diff']:.3f} "
                 f"[{drop['diff_ci_low']:.3f}, {drop['diff_ci_high']:.3f}] lower at step {last['step']}"
                 if peak["step"] != last["step"] else "golden is highest at the last step")
        trained = runs[arm]["train_reward"]
        window = max(1, len(trained) // 4)
        findings.append(f"{arm} arm, after {last['step']} steps: proxy gain {fmt_ci(last, 'proxy_gain')}, "
                        f"golden gain {fmt_ci(last, 'golden_gain')}, KL {fmt_ci(last, 'kl')} "
                        "nats per answer; "
                        f"{shape}; the reward it trains on, mean over its training completions: "
                        f"{np.mean(trained[:window]):+.3f} in the first {window} steps, "
                        f"{np.mean(trained[-window:]):+.3f} in the last {window}.")
    for arm in arms:
        if arm != "proxy" and "proxy" in arms:
            for key in ("golden", "proxy", "kl"):
                d = paired_difference(evals[arm][last_step][key], evals["proxy"][last_step][key], ctx)
                comparisons[f"{arm} - proxy arm, {key}"] = d
            d = comparisons[f"{arm} - proxy arm, golden"]
            k = comparisons[f"{arm} - proxy arm, kl"]
            findings.append(f"At step {last_step}, {arm} arm minus proxy arm (paired over held-out prompts): "
                            f"golden {d['diff']:+.3f} [{d['diff_ci_low']:+.3f}, {d['diff_ci_high']:+.3f}], "
                            f"KL {k['diff']:+.3f} [{k['diff_ci_low']:+.3f}, {k['diff_ci_high']:+.3f}].")
    setup = {**heads.info, "policy": model_name, "arms": arms,
             "grpo": {"max_steps": cfg["max_steps"], "prompts_per_step": cfg["prompts_per_step"],
                      "num_generations": cfg["num_generations"],
                      "max_completion_length": cfg["max_completion_length"],
                      "learning_rate": cfg["learning_rate"], "beta": 0.0, "temperature": 1.0,
                      "seed": ctx.seed, "trl_defaults": "loss, clipping and group reward scaling"},
             "penalty": {"rule": "lcb as served: mean - k * std of the standardised members",
                         "k": ctx.args.penalty_weight, "members": ENSEMBLE_MEMBERS},
             "evaluation": {"every": cfg["eval_every"], "held_out_prompts": len(held_prompts),
                            "answers_per_prompt": cfg["eval_answers"],
                            "sampling": "temperature 1, seed fixed",
                            "kl": "sum over answer tokens of log pi - log pi_start, mean over answers"},
             "n_train_prompts": len(train_prompts),
             "max_prompt_chars": None if ctx.quick else MAX_PROMPT_CHARS,
             "runs": runs, "comparisons": comparisons,
             "rewards": "head rewards (each head on its own scale); gains are over the start policy"}
    return write_summary(ctx, title="GRPO on SmolLM2: proxy, penalised proxy and golden rewards",
                         headline=headline, findings=findings, setup=setup, tables={"curves": rows})


if __name__ == "__main__":
    main()
