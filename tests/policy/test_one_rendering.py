"""One conversation -> text rendering: a head trained on a TRL conversational pairs file gives
bit-identical rewards for the same (prompt, answer) through every path that scores it (the
training vectors, score_candidates, pick_best_of_n, the TRL reward function, an active pool's
vectors and `embrm select`'s pool reader), for single-turn, multi-turn, system-message and
plain-string prompts, on the real static encoder."""

from __future__ import annotations

import json
import shutil
from argparse import Namespace

import numpy as np
import pytest

from embrm import Encoder
from embrm.active import responses_from_pairs, within_prompt_pool
from embrm.cli import _pool_responses
from embrm.data import read_any, read_pairs, render_prompt
from embrm.heads import BTLinear
from embrm.policy import as_trl_reward_func, pick_best_of_n, score_candidates


def user(text):
    return {"role": "user", "content": text}


def assistant(text):
    return {"role": "assistant", "content": text}


def system(text):
    return {"role": "system", "content": text}


#: Each case: the prompt as given, and the text every path must embed for it.
PROMPTS = {
    "single turn": ([user("Name a colour of the sky.")], "Name a colour of the sky."),
    "multi turn": (
        [user("Hi there."), assistant("Hello! What can I do?"), user("Name a colour of grass.")],
        "Human: Hi there.\n\nAssistant: Hello! What can I do?\n\n"
        "Human: Name a colour of grass.\n\nAssistant:",
    ),
    "system message": (
        [system("Answer in one word."), user("Name a colour of snow.")],
        "System: Answer in one word.\n\nHuman: Name a colour of snow.\n\nAssistant:",
    ),
    "plain string": ("Name a colour of coal.", "Name a colour of coal."),
}
ANSWERS = [
    ("Blue, like a clear summer sky.", "I refuse to talk about colours."),
    ("Green, the colour of fresh grass.", "Purple with yellow dots, obviously."),
    ("White.", "Whatever, go look it up yourself."),
    ("Black, a deep dark black.", "No."),
]


@pytest.fixture(scope="module")
def static_encoder(tmp_path_factory, encoder):
    """The distilled static model on a scratch cache (no vectors cached yet)."""
    shared = Encoder("static", show_progress=False)
    shared.static_model  # noqa: B018 - distil once per machine, into the shared cache
    encoder.session  # noqa: B018 - the static model's tokenizer source, exported once
    cache = tmp_path_factory.mktemp("one-rendering")
    shutil.copytree(encoder.model_dir, cache / "models" / encoder.model_dir.name)
    shutil.copytree(shared.model_dir, cache / "models" / shared.model_dir.name)
    return Encoder("static", cache_dir=cache, show_progress=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A TRL conversational pairs file (prompt as messages, chosen/rejected as assistant
    messages) and a plain-string one, for the same kinds of (prompt, answer)."""
    folder = tmp_path_factory.mktemp("trl")
    conversational, plain = [], []
    for case, (prompt, _) in PROMPTS.items():
        for chosen, rejected in ANSWERS:
            if case == "plain string":
                plain.append({"prompt": prompt, "chosen": chosen, "rejected": rejected})
            else:
                conversational.append(
                    {"prompt": prompt, "chosen": [assistant(chosen)], "rejected": [assistant(rejected)]}
                )
    paths = {"conversational": folder / "trl.jsonl", "plain": folder / "plain.jsonl"}
    for name, rows in (("conversational", conversational), ("plain", plain)):
        paths[name].write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return paths


@pytest.fixture(scope="module")
def trained(files, static_encoder):
    """Head fitted on the vectors of both files as read: (head, rewards), the training reward
    of each answer keyed by (case, answer) and by (prompt text as read, answer)."""
    conversational = read_pairs(files["conversational"])
    plain = read_any(files["plain"])
    frames = [conversational.frame, plain.frame]
    X_win = np.vstack([conversational.embed(static_encoder)[0], plain.embed(static_encoder)[0]])
    X_lose = np.vstack([conversational.embed(static_encoder)[1], plain.embed(static_encoder)[1]])
    head = BTLinear().fit(X_win, X_lose, encoder_id=static_encoder.identity)
    win, lose = head.reward(X_win), head.reward(X_lose)
    prompts = [p for f in frames for p in f["prompt"].to_list()]
    chosen = [c for f in frames for c in f["chosen"].to_list()]
    rejected = [r for f in frames for r in f["rejected"].to_list()]
    cases = [c for c in PROMPTS if c != "plain string"] + ["plain string"]  # the files' row order
    rewards = {}
    for k, (prompt, c, r) in enumerate(zip(prompts, chosen, rejected, strict=True)):
        case = cases[k // len(ANSWERS)]
        rewards[(case, c)] = rewards[(prompt, c)] = win[k]
        rewards[(case, r)] = rewards[(prompt, r)] = lose[k]
    return head, rewards


@pytest.mark.parametrize("case", list(PROMPTS))
def test_the_readers_render_as_the_policy_does(files, case):
    prompt, text = PROMPTS[case]
    frame = read_pairs(files["plain" if case == "plain string" else "conversational"]).frame
    assert text in frame["prompt"].to_list()
    assert render_prompt(prompt) == text
    assert set(frame["chosen"]) | set(frame["rejected"]) == {a for pair in ANSWERS for a in pair}


@pytest.mark.parametrize("case", list(PROMPTS))
def test_every_path_gives_the_training_reward_bit_for_bit(trained, static_encoder, case):
    head, reward_of = trained
    prompt, _ = PROMPTS[case]
    answers = [a for pair in ANSWERS for a in pair]
    expected = np.array([reward_of[(case, a)] for a in answers])
    as_messages = [[assistant(a)] for a in answers]
    conversational = not isinstance(prompt, str)

    # score_candidates and pick_best_of_n: answers as strings and as assistant messages
    for given in (answers, as_messages) if conversational else (answers,):
        (rewards,) = score_candidates(head, static_encoder, [prompt], [given])
        assert np.array_equal(rewards, expected), case
        picks = pick_best_of_n(head, static_encoder, [prompt], [given])
        assert np.array_equal(picks.rewards[0], expected)
        assert picks.reward[0] == expected.max() and picks.index[0] == int(np.argmax(expected))

    # the TRL reward function, called as GRPOTrainer calls it (conversational and plain)
    func = as_trl_reward_func(head, static_encoder)
    for completions in (as_messages, answers) if conversational else (answers,):
        got = func(prompts=[prompt] * len(answers), completions=completions, completion_ids=None)
        assert np.array_equal(np.array(got), expected), case


def test_active_pool_vectors_are_the_training_vectors(trained, files, static_encoder, tmp_path):
    head, reward_of = trained
    # a pool over the pairs' answers (the simulation path), embedded as `embrm select` does
    pairs = read_pairs(files["conversational"])
    table = responses_from_pairs(pairs)
    pool = within_prompt_pool(table)
    X = np.vstack(pairs.embed(static_encoder))
    texts = zip(table.frame["prompt"], table.frame["response"], strict=True)
    assert np.array_equal(head.reward(X), np.array([reward_of[t] for t in texts]))
    row = pool.frame.row(0, named=True)
    assert reward_of[(row["prompt_a"], row["response_a"])] == head.reward(X)[row["index_a"]]

    # `embrm select` on a pool file of conversational (prompt, response) rows
    rows = [
        {"prompt": prompt, "response": [assistant(a)]}
        for case, (prompt, _) in PROMPTS.items()
        if case != "plain string"
        for pair in ANSWERS
        for a in pair
    ]
    path = tmp_path / "pool.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    frame, X_pool = _pool_responses(Namespace(pool=str(path), data_dir=None), static_encoder)
    expected = [reward_of[(p, r)] for p, r in zip(frame["prompt"], frame["response"], strict=True)]
    assert np.array_equal(head.reward(X_pool), np.array(expected))
    assert len(within_prompt_pool(frame)) == 3 * 28  # 8 answers per prompt: 28 pairs each
