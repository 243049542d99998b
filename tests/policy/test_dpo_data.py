"""preference_dataset: the data handed to TRL (columns, conversational shape, scores, the two
pairings, JSONL/Parquet), and one DPOTrainer step on a tiny random Llama built locally."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _tiny_lm import tiny_llama

from embrm.exceptions import DataError
from embrm.policy import dpo_config, pick_best_of_n, preference_dataset, train_dpo

PROMPTS = ["Count to three.", "Name a fruit."]
CANDIDATES = [["3 one two three", "1 one", "2 one two"], ["5 apple", "5 pear", "0 no"]]


def test_best_worst_pairs_in_trl_format(value_head, value_encoder):
    rewards = pick_best_of_n(value_head, value_encoder, PROMPTS, CANDIDATES).rewards
    pairs = preference_dataset(PROMPTS, CANDIDATES, rewards)
    assert pairs.column_names == ["prompt", "chosen", "rejected", "score_chosen", "score_rejected"]
    assert pairs["prompt"] == PROMPTS
    # tie at the top ("5 apple" = "5 pear"): the earliest is chosen
    assert pairs["chosen"] == ["3 one two three", "5 apple"]
    assert pairs["rejected"] == ["1 one", "0 no"]
    np.testing.assert_allclose(pairs["score_chosen"], [rewards[0][0], rewards[1][0]])
    np.testing.assert_allclose(pairs["score_rejected"], [rewards[0][1], rewards[1][2]])
    assert all(c > r for c, r in zip(pairs["score_chosen"], pairs["score_rejected"], strict=True))


def test_conversational_when_the_prompts_are():
    chats = [[{"role": "user", "content": p}] for p in PROMPTS]
    pairs = preference_dataset(chats, CANDIDATES, [[3, 1, 2], [5, 5, 0]])
    row = pairs[0]
    assert row["prompt"] == [{"role": "user", "content": "Count to three."}]
    assert row["chosen"] == [{"role": "assistant", "content": "3 one two three"}]
    assert row["rejected"] == [{"role": "assistant", "content": "1 one"}]
    from trl.data_utils import is_conversational

    assert is_conversational(row)


def test_all_pairs_above_a_margin_and_files(tmp_path):
    rewards = [[3.0, 1.0, 2.0], [5.0, 5.0, 0.0]]
    every = preference_dataset(PROMPTS, CANDIDATES, rewards, pairing="all")
    # prompt 0: 3 ordered pairs; prompt 1: the tie makes no pair, 2 pairs over "0 no"
    assert len(every) == 5
    assert (np.array(every["score_chosen"]) > np.array(every["score_rejected"])).all()
    wide = preference_dataset(PROMPTS, CANDIDATES, rewards, pairing="all", margin=1.5)
    assert sorted(zip(wide["score_chosen"], wide["score_rejected"], strict=True)) == [
        (3.0, 1.0), (5.0, 0.0), (5.0, 0.0)]
    wide.to_json(tmp_path / "pairs.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "pairs.jsonl").read_text().splitlines()]
    assert [r["chosen"] for r in rows] == wide["chosen"]
    import polars as pl

    wide.to_parquet(tmp_path / "pairs.parquet")
    assert pl.read_parquet(tmp_path / "pairs.parquet")["score_rejected"].to_list() == wide["score_rejected"]


def test_bad_pair_input():
    with pytest.raises(DataError, match="pairing must be one of"):
        preference_dataset(PROMPTS, CANDIDATES, [[1, 2, 3]] * 2, pairing="best")
    with pytest.raises(DataError, match="has 3 candidates but 2 rewards"):
        preference_dataset(PROMPTS, CANDIDATES, [[1, 2], [1, 2, 3]])
    with pytest.raises(DataError, match="empty candidate list"):
        preference_dataset(PROMPTS, [["1 a"], []], [[1.0], []])
    with pytest.raises(DataError, match=r"^candidates\[0\]\[1\] "):
        preference_dataset(["p"], [["a", 5]], [[1.0, 0.0]])


def test_best_worst_wherever_they_are_and_rewards_of_any_shape_or_type():
    rewards = [np.array([[1.0], [3.0], [2.0]]), [False, False, True]]  # a column; pass/fail checks
    pairs = preference_dataset(PROMPTS, CANDIDATES, rewards)
    assert pairs["chosen"] == ["1 one", "0 no"] and pairs["rejected"] == ["3 one two three", "5 apple"]
    assert pairs["score_chosen"] == [3.0, 1.0] and pairs["score_rejected"] == [1.0, 0.0]


def _tiny_llama(tmp_path):
    """A random 2-layer Llama over the words of PROMPTS and CANDIDATES (no hub)."""
    return tiny_llama(t for p, c in zip(PROMPTS, CANDIDATES, strict=True) for t in [p, *c])


def test_tiny_model_takes_a_dpo_step(tmp_path):
    model, tokenizer = _tiny_llama(tmp_path)
    chats = [[{"role": "user", "content": p}] for p in PROMPTS]
    pairs = preference_dataset(chats, CANDIDATES, [[3, 1, 2], [5, 4, 0]])
    config = dpo_config(tmp_path / "dpo", max_steps=1, per_device_train_batch_size=2, learning_rate=1e-2,
                        logging_steps=1, seed=0)
    assert config.use_cpu and not config.bf16  # the CPU defaults that keep DPOConfig from failing here
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    trainer = train_dpo(model, pairs, tokenizer=tokenizer, config=config, eval_dataset=pairs)
    assert trainer.state.global_step == 1
    # the reference: a frozen copy of the model as it was, in eval mode; the held-out pairs kept
    reference = trainer.ref_model
    assert reference is not model and not reference.training
    assert not any(p.requires_grad for p in reference.parameters())
    assert all(torch_equal(v, before[k]) for k, v in reference.named_parameters())
    assert trainer.eval_dataset is not None and len(trainer.eval_dataset) == len(pairs)
    assert trainer.processing_class is tokenizer
    logged = trainer.state.log_history[0]
    assert logged["loss"] == pytest.approx(np.log(2), abs=0.05)  # policy == reference at step 1
    assert "rewards/margins" in logged
    changed = [k for k, v in model.named_parameters() if not torch_equal(v, before[k])]
    assert changed, "one DPO step must move the policy's weights"


def test_a_given_reference_model_is_used_as_it_is(tmp_path):
    model, tokenizer = _tiny_llama(tmp_path)
    reference, _ = _tiny_llama(tmp_path)
    pairs = preference_dataset(PROMPTS, CANDIDATES, [[3, 1, 2], [5, 4, 0]])
    trainer = train_dpo(model, pairs, tokenizer=tokenizer, ref_model=reference, output_dir=tmp_path / "dpo",
                        max_steps=1, per_device_train_batch_size=2, disable_tqdm=True)
    assert trainer.ref_model is reference
    # the config built from output_dir and the keywords
    assert trainer.args.output_dir == str(tmp_path / "dpo") and trainer.args.max_steps == 1
    assert trainer.args.per_device_train_batch_size == 2


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_dpo_config_defaults_follow_the_device(monkeypatch, tmp_path, device):
    """bf16 on CUDA, fp32 on the CPU (``use_cpu``); no trackers, no checkpoints; keywords win."""
    import trl

    import embrm.policy._dpo as dpo_module

    monkeypatch.setattr(dpo_module, "best_device", lambda: (device, None))
    monkeypatch.setattr(trl, "DPOConfig", lambda **fields: fields)
    precision = {"bf16": True} if device == "cuda" else {"use_cpu": True, "bf16": False}
    assert dpo_config(tmp_path / "runs") == {
        "output_dir": str(tmp_path / "runs"), "report_to": "none", "save_strategy": "no", **precision}
    assert dpo_config(tmp_path, report_to="tensorboard", bf16=False, beta=0.3) == {
        "output_dir": str(tmp_path), "report_to": "tensorboard", "save_strategy": "no", **precision,
        "bf16": False, "beta": 0.3}


def torch_equal(a, b) -> bool:
    import torch

    return bool(torch.equal(a.detach(), b))


def _completion_logprob(model, tokenizer, prompt, answer) -> float:
    """log p(answer | prompt) under ``model``: the chat template's generation prompt, then the
    answer's turn as the template writes it (what TRL tokenises for conversational pairs)."""
    import torch

    head = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
    full = tokenizer.apply_chat_template([*prompt, {"role": "assistant", "content": answer}], tokenize=False)
    assert full.startswith(head)
    prompt_ids = tokenizer(head, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(full[len(head):], add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt_ids + answer_ids])
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits[0, :-1].double(), dim=-1)
    targets = ids[0, 1:]
    return float(logp[torch.arange(len(targets)), targets][len(prompt_ids) - 1:].sum())


def test_dpo_raises_the_better_answers_likelihood_against_the_reference(tmp_path):
    """The direction of DPO, measured independently of TRL's logs and of the pair table: the
    answer with the higher reward gains log-probability relative to the reference and the
    lower one loses it, so the implicit reward margin of better over worse grows from 0.
    (Swapping chosen and rejected anywhere between the rewards and TRL makes it negative.)"""
    import copy

    import torch

    torch.set_num_threads(1)
    model, tokenizer = _tiny_llama(tmp_path)
    reference = copy.deepcopy(model).eval()
    chats = [[{"role": "user", "content": p}] for p in PROMPTS]
    rewards = [[3, 1, 2], [5, 4, 0]]
    better = [c[int(np.argmax(r))] for c, r in zip(CANDIDATES, rewards, strict=True)]
    worse = [c[int(np.argmin(r))] for c, r in zip(CANDIDATES, rewards, strict=True)]
    pairs = preference_dataset(chats, CANDIDATES, rewards)
    trainer = train_dpo(model, pairs, tokenizer=tokenizer, output_dir=tmp_path / "dpo", max_steps=5,
                        per_device_train_batch_size=2, learning_rate=1e-2, beta=0.1, logging_steps=1,
                        seed=0, disable_tqdm=True)
    model.eval()

    def gain(chat, answer):  # log pi(answer) - log pi_ref(answer)
        return (_completion_logprob(model, tokenizer, chat, answer)
                - _completion_logprob(reference, tokenizer, chat, answer))

    for chat, good, bad in zip(chats, better, worse, strict=True):
        assert gain(chat, good) > 0.5 > -0.5 > gain(chat, bad), (good, bad)
    logged = [h for h in trainer.state.log_history if "rewards/margins" in h]
    assert logged[0]["rewards/margins"] == pytest.approx(0.0, abs=1e-6)  # policy == reference
    assert logged[-1]["rewards/margins"] > 0.2 and logged[-1]["loss"] < logged[0]["loss"] - 0.1
