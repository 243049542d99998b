"""pick_best_of_n / score_candidates: picks against a head whose order is known, ties, bad input,
and on real MiniLM embeddings the picks agree with the head's pairwise accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from embrm.data import render_prompt, render_response
from embrm.exceptions import DataError, EncoderMismatchError
from embrm.heads import BTLinear
from embrm.policy import pick_best_of_n


def test_picks_the_highest_reward_with_rewards_alongside(value_head, value_encoder):
    prompts = ["Count.", "Count again."]
    candidates = [["2 a", "7 b", "5 c"], ["9 x", "1 y"]]
    picks = pick_best_of_n(value_head, value_encoder, prompts, candidates)
    assert picks.index.tolist() == [1, 0]
    assert picks.response == ["7 b", "9 x"]
    assert len(picks) == 2 and [len(r) for r in picks.rewards] == [3, 2]
    # rewards are the head's on the encoder's vectors, and the pick's is the row maximum
    X = value_encoder.encode_responses(["Count."] * 3, candidates[0])
    np.testing.assert_allclose(picks.rewards[0], value_head.reward(X))
    assert picks.reward.tolist() == [r.max() for r in picks.rewards]
    # everything is embedded in one call
    assert len(value_encoder.calls) == 2  # pick_best_of_n's call + the check above


def test_ties_go_to_the_earliest_candidate(value_head, value_encoder):
    picks = pick_best_of_n(value_head, value_encoder, ["p"], [["1 low", "8 first", "8 second", "8 third"]])
    assert picks.rewards[0][1] == picks.rewards[0][2] == picks.rewards[0][3]
    assert picks.index.tolist() == [1] and picks.response == ["8 first"]


def test_conversational_prompts_and_answers_are_flattened(value_head, value_encoder):
    chat = [{"role": "user", "content": "Count."}]
    answers = [[{"role": "assistant", "content": "3 x"}], [{"role": "assistant", "content": "6 y"}]]
    picks = pick_best_of_n(value_head, value_encoder, [chat], [answers])
    assert picks.index.tolist() == [1] and picks.response == [answers[1]]
    assert value_encoder.calls[-1] == (["Count.", "Count."], ["3 x", "6 y"])
    dialogue = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Count."},
    ]
    assert render_prompt(dialogue) == "Human: Hi\n\nAssistant: Hello\n\nHuman: Count.\n\nAssistant:"
    assert render_response(answers[0]) == "3 x"


def test_bad_input_names_the_fix(value_head, value_encoder):
    with pytest.raises(EncoderMismatchError, match="trained on embeddings from encoder 'other'"):
        other = BTLinear().fit([[1.0, 0.0], [2.0, 0.0]], [[0.0, 0.0], [1.0, 0.0]], encoder_id="other")
        pick_best_of_n(other, value_encoder, ["p"], [["1 a"]])
    with pytest.raises(DataError, match="Prompt 1 has an empty candidate list"):
        pick_best_of_n(value_head, value_encoder, ["p", "q"], [["1 a"], []])
    with pytest.raises(DataError, match="2 prompts and 1 candidate lists"):
        pick_best_of_n(value_head, value_encoder, ["p", "q"], [["1 a"]])
    with pytest.raises(DataError, match="got a single answer; wrap it in a list"):
        pick_best_of_n(value_head, value_encoder, ["p"], ["1 a"])
    with pytest.raises(DataError, match=r"prompts\[0\] must be a string or a non-empty list of"):
        pick_best_of_n(value_head, value_encoder, [3], [["1 a"]])
    with pytest.raises(TypeError, match="fitted embrm reward head"):
        pick_best_of_n(value_head, object(), ["p"], [["1 a"]])


def test_real_minilm_picks_agree_with_pairwise_accuracy(hh_embedded, encoder, data_dir):
    """On HH pairs offered as two candidates, the share of human-chosen picks is the head's
    pairwise accuracy (no ties), and a head trained on half beats a coin on the other half."""
    from embrm import load_dataset

    pairs = load_dataset("hh-harmless", data_dir).take(np.arange(400)).frame
    head = BTLinear().fit(hh_embedded.X_win[:200], hh_embedded.X_lose[:200],
                          encoder_id=encoder.identity)
    test = pairs[200:]
    candidates = [[c, r] for c, r in zip(test["chosen"], test["rejected"], strict=True)]
    picks = pick_best_of_n(head, encoder, test["prompt"].to_list(), candidates)
    accuracy = head.score(hh_embedded.X_win[200:], hh_embedded.X_lose[200:])
    assert np.mean(picks.index == 0) == pytest.approx(accuracy)
    assert accuracy > 0.55


def test_every_refusal_says_what_to_pass(value_head, value_encoder):
    """Each message in full (anchored), so a message that loses a part is caught."""
    cases = [
        (TypeError, (value_head, object(), ["p"], [["1 a"]]),
         r"Pass a fitted embrm reward head \(embrm\.heads\) and the embrm\.Encoder it was trained with; "
         r"got BTLinear and object\."),
        (TypeError, (object(), value_encoder, ["p"], [["1 a"]]),
         r"Pass a fitted embrm reward head .*; got object and ValueEncoder\."),
        (DataError, (value_head, value_encoder, "p", [["1 a"]]),
         r"prompts and candidates must be sequences \(one entry per prompt\), not a string\."),
        (DataError, (value_head, value_encoder, ["p"], "1 a"),
         r"prompts and candidates must be sequences \(one entry per prompt\), not a string\."),
        (DataError, (value_head, value_encoder, ["p", "q"], [["1 a"]]),
         r"prompts and candidates must be aligned, one list of candidate answers per prompt; "
         r"got 2 prompts and 1 candidate lists\."),
        (DataError, (value_head, value_encoder, [], []),
         r"No prompts given: pass at least one prompt with its candidates\."),
        (DataError, (value_head, value_encoder, ["p"], [[{"role": "assistant", "content": "1 a"}]]),
         r"candidates\[0\] must be a list of answers to prompt 0, got a single answer; wrap it in a list\."),
        (DataError, (value_head, value_encoder, ["p", "q"], [["1 a"], []]),
         r"Prompt 1 has an empty candidate list: every prompt needs at least one candidate answer\. "
         r"Drop the prompt or generate answers for it\."),
    ]
    for error, args, message in cases:
        with pytest.raises(error, match=f"^{message}$"):
            pick_best_of_n(*args)
    other = BTLinear().fit([[1.0, 0.0], [2.0, 0.0]], [[0.0, 0.0], [1.0, 0.0]], encoder_id="other")
    with pytest.raises(
        EncoderMismatchError,
        match=r"^This head was trained on embeddings from encoder 'other', but the encoder given is "
        r"'value-encoder-v1': its rewards would be meaningless\. Pass the encoder the head was trained "
        r"with \(embrm\.Encoder\(<same model and options>\)\) or train the head on this encoder's "
        r"embeddings\.$",
    ):
        pick_best_of_n(other, value_encoder, ["p"], [["1 a"]])
    assert value_encoder.calls == []  # every check comes before any embedding


def test_a_head_with_no_recorded_encoder_scores_any_encoder(value_encoder):
    """Fitted on bare arrays, a head records no encoder (``encoder_id_`` None): nothing to check."""
    head = BTLinear().fit([[2.0, 0.0], [5.0, 0.0]], [[1.0, 0.0], [3.0, 0.0]])
    assert head.encoder_id_ is None
    picks = pick_best_of_n(head, value_encoder, ["p"], [["1 a", "4 b", "2 c"]])
    assert picks.index.tolist() == [1] and picks.reward.dtype == np.float64


def test_bad_prompts_and_answers_are_named_by_position(value_head, value_encoder):
    # the prompt is checked before the next prompt's candidates
    with pytest.raises(DataError, match=r"^prompts\[0\] must be a string or a non-empty list of"):
        pick_best_of_n(value_head, value_encoder, [3, "q"], [["1 a"], []])
    with pytest.raises(DataError, match=r"^candidates\[0\]\[1\] "):
        pick_best_of_n(value_head, value_encoder, ["p"], [["1 a", 5]])
    with pytest.raises(DataError, match=r"^candidates\[1\]\[0\] "):
        pick_best_of_n(value_head, value_encoder, ["p", "q"], [["1 a"], [[{"role": "user", "content": "2"}]]])


def test_any_object_with_a_reward_method_is_a_head(value_encoder):
    class Doubling:  # no encoder_id_ attribute at all; rewards in float32
        def reward(self, X):
            return (2 * np.asarray(X)[:, 0]).astype(np.float32)

    picks = pick_best_of_n(Doubling(), value_encoder, ["p"], [["1 a", "4 b"]])
    assert picks.index.tolist() == [1] and picks.reward.tolist() == [8.0]
    assert picks.reward.dtype == np.float64  # the picks' rewards as float64 whatever the head gives
