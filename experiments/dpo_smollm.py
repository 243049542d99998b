"""One round of DPO on SmolLM2 driven by a proxy head, judged by a golden head.

generate -> score -> pair -> DPO -> generate again: SmolLM2-135M-Instruct samples K answers
to each policy-training prompt (AlpacaEval prompts that are not held out); the proxy head
(see ``_policy.py``) scores them; pairs of its answers make DPO pairs
(``embrm.policy.preference_dataset``; every pair whose proxy rewards differ by more than the
mean within-prompt standard deviation); TRL's DPOTrainer trains the policy on them
(``embrm.policy.train_dpo``); the trained policy answers the held-out prompts again. The
mean golden-head and proxy-head reward of the answers, before and after, are compared per
prompt (paired bootstrap CI over prompts), so a gain only the proxy sees shows. Held-out
pairs (best vs worst of the base policy's answers to the held-out prompts, by the proxy)
give DPO's implicit reward margin before and after training.

    python experiments/dpo_smollm.py            # 8 training prompts, 16 held out (answers cached)
    python experiments/dpo_smollm.py --quick    # committed answers, 2 DPO steps, 2 x 2 new answers
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import config, figure, fmt_ci, parse_args, print_table, save_figure, write_csv, write_summary
from _policy import (
    Policy,
    Sampling,
    generate_cached,
    read_candidate_file,
    score,
    split_prompts,
    train_heads,
)
from bon_smollm import FULL as BON_FULL
from bon_smollm import PROXY_BETA

from embrm import load_dataset
from embrm.evaluate import bootstrap, ratio_of_sums

NAME = "dpo_smollm"
QUICK = {"n_held_out": None, "n_proxy": 12, "n_policy_train": 0, "k": 8, "m": 2,
         "max_new_tokens": Sampling(1).max_new_tokens,
         "max_steps": 2, "batch_size": 2, "proxy_pairs_per_prompt": 20, "golden_pairs_per_prompt": 50}
FULL = {"n_held_out": 16, "n_proxy": BON_FULL["n_proxy"], "n_policy_train": 8,
        "k": 8, "m": 4, "max_new_tokens": Sampling(1).max_new_tokens, "max_steps": 24, "batch_size": 4,
        "proxy_pairs_per_prompt": BON_FULL["proxy_pairs_per_prompt"],
        "golden_pairs_per_prompt": BON_FULL["golden_pairs_per_prompt"]}
DPO = {"beta": 0.1, "learning_rate": 2e-5, "max_length": 384, "seed": 0}


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-steps", type=int, default=None, help="DPO optimiser steps")
    parser.add_argument("--learning-rate", type=float, default=DPO["learning_rate"])
    parser.add_argument("--beta", type=float, default=DPO["beta"], help="DPO beta")


def _prompts(ctx, ids: np.ndarray) -> tuple[np.ndarray, list[str]]:
    frame = (load_dataset("alpacaeval", ctx.args.data_dir).filter_prompts(ids).frame
             .unique("prompt_id", keep="first", maintain_order=True).sort("prompt_id"))
    return frame["prompt_id"].to_numpy(), frame["prompt"].to_list()


def paired_change(before: np.ndarray, after: np.ndarray, ctx) -> dict[str, float]:
    """Mean over prompts of the per-prompt mean reward, before and after, and the paired
    difference with a bootstrap CI over prompts."""
    b, a = before.mean(axis=1), after.mean(axis=1)
    diff = (a - b)[:, None]
    point, low, high = bootstrap(ratio_of_sums(diff, np.ones_like(diff)), len(diff),
                                 n_bootstrap=ctx.args.n_bootstrap, confidence=0.95, random_state=ctx.seed)
    return {"before": float(b.mean()), "after": float(a.mean()), "change": float(point[0]),
            "change_ci_low": float(low[0]), "change_ci_high": float(high[0])}


def main(argv: Sequence[str] | None = None) -> dict:
    from embrm.policy import generate_candidates, preference_dataset, train_dpo

    ctx = parse_args(NAME, __doc__, argv, _arguments)
    cfg = config(ctx, QUICK, FULL)
    if ctx.args.max_steps is not None:
        cfg["max_steps"] = ctx.args.max_steps
    split = split_prompts(ctx, cfg["n_held_out"] or 0, cfg["n_proxy"], cfg["n_policy_train"])
    policy = Policy().load()
    chat = lambda texts: [[{"role": "user", "content": t}] for t in texts]  # noqa: E731

    # 1. generate (or read) answers to the training prompts
    if ctx.quick:
        rows = read_candidate_file()
        train_prompts, train_answers = [r["prompt"] for r in rows[:4]], [r["answers"] for r in rows[:4]]
    else:
        train_ids, train_prompts = _prompts(ctx, split.policy_train)
        train_answers = generate_cached(ctx, policy, train_ids, train_prompts,
                                        Sampling(cfg["k"], max_new_tokens=cfg["max_new_tokens"]))
    heads = train_heads(ctx, split, proxy_pairs_per_prompt=cfg["proxy_pairs_per_prompt"],
                        proxy_beta=PROXY_BETA, golden_pairs_per_prompt=cfg["golden_pairs_per_prompt"])

    # 2. score with the proxy; every pair of a prompt's answers whose proxy rewards differ by
    # more than one within-prompt standard deviation (more distinct pairs than best vs worst)
    proxy_train, _ = score(heads, train_prompts, train_answers, ctx)
    margin = float(np.mean(proxy_train.std(axis=1)))
    train_pairs = preference_dataset(chat(train_prompts), train_answers, list(proxy_train),
                                     pairing="all", margin=margin)

    # 3. DPO through TRL; then DPO's implicit reward margin on held-out pairs: best vs worst
    # (by the proxy) of the base policy's answers to the held-out prompts, the first m of the
    # Best-of-N experiment's cached samples (the margin is 0 before training: policy = reference)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        trainer = train_dpo(
            policy.model, train_pairs, tokenizer=policy.tokenizer,
            output_dir=tmp, max_steps=cfg["max_steps"], per_device_train_batch_size=cfg["batch_size"],
            learning_rate=ctx.args.learning_rate, beta=ctx.args.beta, max_length=DPO["max_length"],
            logging_steps=1, seed=ctx.seed, disable_tqdm=True)
        train_seconds = time.perf_counter() - start
        if ctx.quick:
            held_prompts = [r["prompt"] for r in rows[4:]]
            base_answers = [r["answers"][: cfg["m"]] for r in rows[4:]]
        else:
            held_ids, held_prompts = _prompts(ctx, split.held_out)
            base_answers = generate_cached(ctx, policy, held_ids, held_prompts,
                                           Sampling(BON_FULL["k"], max_new_tokens=cfg["max_new_tokens"]))
            base_answers = [a[: cfg["m"]] for a in base_answers]
        proxy_held, _ = score(heads, held_prompts, base_answers, ctx)
        held_pairs = preference_dataset(chat(held_prompts), base_answers, list(proxy_held))
        print(f"{len(train_pairs)} training pairs, {len(held_pairs)} held-out pairs")
        after_eval = trainer.evaluate(held_pairs)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]

    # 4. generate again on the held-out prompts with the trained policy
    policy.model.eval()
    after_answers = []
    for k, text in enumerate(held_prompts):
        after_answers += generate_candidates(
            policy.model, [text], cfg["m"],
            tokenizer=policy.tokenizer, temperature=Sampling(1).temperature, top_p=Sampling(1).top_p,
            max_new_tokens=cfg["max_new_tokens"], random_state=ctx.seed * 7 + k)
    proxy_before, golden_before = score(heads, held_prompts, base_answers, ctx)
    proxy_after, golden_after = score(heads, held_prompts, after_answers, ctx)
    length = lambda answers: np.array([[len(x) for x in a] for a in answers], float)  # noqa: E731

    rows = []
    for name, before, after in (("golden reward", golden_before, golden_after),
                                ("proxy reward", proxy_before, proxy_after),
                                ("answer length (chars)", length(base_answers), length(after_answers))):
        rows.append({"metric": name, **paired_change(before, after, ctx)})
    table = pl.DataFrame(rows)
    write_csv(ctx, table)
    print_table("Held-out answers before and after one round of DPO (mean over prompts)", pl.DataFrame([
        {"metric": r["metric"], "before": f"{r['before']:.3f}", "after": f"{r['after']:.3f}",
         "change [95% CI]": fmt_ci(r, "change")} for r in rows]))
    margin_after = after_eval.get("eval_rewards/margins", float("nan"))
    print(f"\nDPO: {len(losses)} logged steps, loss {losses[0]:.4f} -> {losses[-1]:.4f}; held-out implicit "
          f"reward margin 0 (policy = reference) -> {margin_after:.4f}; {train_seconds:.0f} s")

    fig, axes = figure(ncols=2)
    axes[0].plot(np.arange(1, len(losses) + 1), losses, "o-")
    axes[0].set_xlabel("DPO step")
    axes[0].set_ylabel("training loss")
    for i, r in enumerate(rows[:2]):
        axes[1].errorbar([i], [r["change"]], yerr=[[r["change"] - r["change_ci_low"]],
                                                   [r["change_ci_high"] - r["change"]]], fmt="o")
    axes[1].set_xticks([0, 1], ["golden", "proxy"])
    axes[1].axhline(0, color="black", lw=0.5)
    axes[1].set_ylabel("mean reward after - before (95% CI)")
    save_figure(ctx, fig, "dpo_round")

    golden, proxy = rows[0], rows[1]
    findings = [
        f"One DPO round ({len(train_pairs)} proxy-labelled pairs, {cfg['max_steps']} steps): held-out golden "
        f"reward {golden['before']:.3f} -> {golden['after']:.3f} (change {fmt_ci(golden, 'change')}), proxy "
        f"{proxy['before']:.3f} -> {proxy['after']:.3f} (change {fmt_ci(proxy, 'change')}).",
        f"DPO loss {losses[0]:.3f} -> {losses[-1]:.3f}; "
        f"held-out implicit reward margin 0 -> {margin_after:.3f}.",
    ]
    headline = {"golden change": fmt_ci(golden, "change"), "proxy change": fmt_ci(proxy, "change"),
                "dpo loss first/last": f"{losses[0]:.3f} / {losses[-1]:.3f}",
                "held-out margin after": round(float(margin_after), 4)}
    setup = {**heads.info, "dpo": {**DPO, "beta": ctx.args.beta, "learning_rate": ctx.args.learning_rate,
                                   "max_steps": cfg["max_steps"], "batch_size": cfg["batch_size"],
                                   "pairs": "all pairs of a prompt's answers whose proxy rewards differ by "
                                            "more than the mean within-prompt std (margin)",
                                   "margin": margin},
             "n_train_prompts": len(train_prompts), "answers_per_train_prompt": cfg["k"],
             "n_held_out_prompts": len(held_prompts), "answers_per_held_out_prompt": cfg["m"],
             "max_new_tokens": cfg["max_new_tokens"], "n_train_pairs": len(train_pairs),
             "n_held_out_pairs": len(held_pairs), "train_seconds": round(train_seconds, 1),
             "losses": losses, "eval_after": after_eval}
    return write_summary(ctx, title="One round of DPO on SmolLM2 with a proxy head",
                         headline=headline, findings=findings, setup=setup)


if __name__ == "__main__":
    main()
