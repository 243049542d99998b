"""The service's app through Starlette's TestClient and httpx's ASGI transport: routes, numbers
equal to in-process scoring, errors that name the field, the token, the cache and batching."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from _require import require
from _serving import SERVE_EXTRA, static_encoder

httpx = require("httpx", reason=SERVE_EXTRA)
require("starlette", reason=SERVE_EXTRA)

from starlette.testclient import TestClient  # noqa: E402

from embrm.serve import create_app, split_query  # noqa: E402

pytest_plugins = ["_serve_fixtures"]

TOKEN = "test-token-123"


@pytest.fixture
def encoder(serve_cache):
    return static_encoder(serve_cache)


@pytest.fixture
def client(bt_head, encoder):
    with TestClient(create_app(bt_head, encoder)) as client:
        yield client


def in_process(head, encoder, prompts, answers) -> np.ndarray:
    return head.reward(encoder.encode_responses(prompts, answers))


def assert_same_rewards(got, expected) -> None:
    """Equal up to float64 rounding: the vectors are identical, but a head's matrix product may
    round differently with the number of rows scored together (seen: 7e-17 on rewards ~0.1)."""
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_v1_rewards_equal_in_process_rewards_for_text_and_chat_messages(client, bt_head, encoder, texts):
    prompts, answers = texts[0][:12], texts[1][:12]
    got = client.post("/v1/rewards", json={"prompts": prompts, "answers": answers})
    assert got.status_code == 200
    assert list(got.json()) == ["rewards"]
    np.testing.assert_array_equal(got.json()["rewards"], in_process(bt_head, encoder, prompts, answers))
    chat = {
        "prompts": [[{"role": "user", "content": p}] for p in prompts],
        "answers": [[{"role": "assistant", "content": a}] for a in answers],
    }
    np.testing.assert_array_equal(
        client.post("/v1/rewards", json=chat).json()["rewards"], got.json()["rewards"]
    )
    # a longer dialogue is rendered by embrm.data's one rendering (Human:/Assistant: turns)
    from embrm.data import render_prompt

    dialogue = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": prompts[0]}]
    got = client.post("/v1/rewards", json={"prompts": [dialogue], "answers": [answers[0]]}).json()
    np.testing.assert_array_equal(
        got["rewards"], in_process(bt_head, encoder, [render_prompt(dialogue)], [answers[0]])
    )


def test_get_reward_splits_each_query_at_its_prompt(client, bt_head, encoder, texts):
    prompts, answers = texts[0][:6], texts[1][:6]
    queries = [p + a for p, a in zip(prompts, answers, strict=True)]
    queries[1] = "<s>" + queries[1]  # text before the prompt (a decoded BOS token) is dropped
    body = {"query": queries, "prompts": prompts, "labels": ["ignored"] * 6}
    got = client.post("/get_reward", json=body).json()
    expected = in_process(bt_head, encoder, prompts, answers)
    np.testing.assert_array_equal(got["rewards"], expected)
    assert got["scores"] == got["rewards"]
    assert split_query("<s>Q? A.", "Q?") == " A."


def test_get_reward_without_prompts_scores_the_whole_query_with_an_empty_prompt(
    client, bt_head, encoder, texts
):
    queries = [p + a for p, a in zip(texts[0][:4], texts[1][:4], strict=True)]
    got = client.post("/get_reward", json={"query": queries}).json()
    np.testing.assert_array_equal(got["rewards"], in_process(bt_head, encoder, [""] * 4, queries))
    # the static representation averages token vectors: here the split does not change the reward
    split = client.post("/get_reward", json={"query": queries, "prompts": texts[0][:4]}).json()
    np.testing.assert_allclose(split["rewards"], got["rewards"], rtol=0, atol=1e-9)


@pytest.mark.parametrize(
    ("route", "body", "status", "field"),
    [
        ("/v1/rewards", b"{", 400, "body"),
        ("/v1/rewards", b"\xff\xfe{", 400, "body"),
        ("/v1/rewards", b"[" * 100_000, 400, "body"),
        ("/get_reward", b"not json", 400, "body"),
        ("/v1/rewards", b"[]", 422, "body"),
        ("/v1/rewards", b'{"answers": ["a"]}', 422, "prompts"),
        ("/v1/rewards", b'{"prompts": "a", "answers": ["a"]}', 422, "prompts"),
        ("/v1/rewards", b'{"prompts": ["a", "b"], "answers": ["a"]}', 422, "answers"),
        ("/v1/rewards", b'{"prompts": ["a"], "answers": [null]}', 422, "answers[0]"),
        ("/v1/rewards", b'{"prompts": ["a", 3], "answers": ["a", "b"]}', 422, "prompts[1]"),
        (
            "/v1/rewards",
            b'{"prompts": ["a"], "answers": [[{"role": "user", "content": "x"}]]}',
            422,
            "answers[0]",
        ),
        ("/v1/rewards", b'{"prompts": ["a"], "answers": ["\\ud800"]}', 422, "answers[0]"),
        ("/v1/rewards", b'{"prompts": ["a"], "answers": ["b"], "disagreement": "yes"}', 422, "disagreement"),
        ("/v1/rewards", b'{"prompts": ["a"], "answers": ["b"], "disagreement": true}', 422, "disagreement"),
        ("/v1/rewards", b'{"prompts": ["a"], "answers": ["b"], "head": "/etc/passwd"}', 422, "head"),
        ("/get_reward", b'{"prompts": ["a"]}', 422, "query"),
        ("/get_reward", b'{"query": ["ab", 1]}', 422, "query[1]"),
        ("/get_reward", b'{"query": ["ab"], "prompts": ["a", "b"]}', 422, "prompts"),
        ("/get_reward", b'{"query": ["ab"], "prompts": [["a"]]}', 422, "prompts[0]"),
        ("/get_reward", b'{"query": ["ab"], "prompts": ["zz"]}', 422, "query[0]"),
        ("/get_reward", b'{"query": ["ab"], "labels": ["x", "y"]}', 422, "labels"),
        ("/get_reward", b'{"query": ["ab"], "labels": 3}', 422, "labels"),
    ],
)
def test_bad_input_gets_a_json_error_naming_the_field(client, route, body, status, field):
    got = client.post(route, content=body)
    assert got.status_code == status, got.text
    assert got.json()["field"] == field and got.json()["status"] == status
    assert field.split("[")[0] in got.json()["error"] or field == "body"
    assert client.get("/health").json() == {"status": "ok"}  # the service is still up


def test_unknown_route_and_method_are_json_404_and_405(client):
    got = client.get("/no/such/route")
    assert (got.status_code, got.json()["field"]) == (404, "path")
    assert "/no/such/route" in got.json()["error"]
    got = client.get("/v1/rewards")
    assert (got.status_code, got.json()["field"]) == (405, "method")


def test_limits_on_answers_and_bytes_are_413(bt_head, encoder):
    app = create_app(bt_head, encoder, max_answers=3, max_bytes=300)
    with TestClient(app) as client:
        many = client.post("/v1/rewards", json={"prompts": ["p"] * 4, "answers": ["a"] * 4})
        assert (many.status_code, many.json()["field"]) == (413, "answers")
        assert "at most 3" in many.json()["error"]
        queries = client.post("/get_reward", json={"query": ["a"] * 4})
        assert (queries.status_code, queries.json()["field"]) == (413, "query")
        big = client.post("/v1/rewards", json={"prompts": ["p"], "answers": ["x" * 400]})
        assert (big.status_code, big.json()["field"]) == (413, "body")

        def chunks():  # no Content-Length: the limit holds while the body streams in
            yield b'{"prompts": ["p"], "answers": ["'
            for _ in range(10):
                yield b"x" * 50
            yield b'"]}'

        streamed = client.post("/v1/rewards", content=chunks())
        assert (streamed.status_code, streamed.json()["field"]) == (413, "body")
        ok = client.post("/v1/rewards", json={"prompts": ["p"] * 3, "answers": ["a"] * 3})
        assert ok.status_code == 200 and len(ok.json()["rewards"]) == 3


def test_token_is_required_on_every_route_but_health(bt_head, encoder):
    with TestClient(create_app(bt_head, encoder, token=TOKEN)) as client:
        body = {"prompts": ["p"], "answers": ["a"]}
        for method, route in [
            ("post", "/v1/rewards"),
            ("post", "/get_reward"),
            ("get", "/info"),
            ("get", "/nope"),
        ]:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
                got = getattr(client, method)(
                    route, headers=headers, **({"json": body} if method == "post" else {})
                )
                assert (got.status_code, got.json()["field"]) == (401, "Authorization"), (route, headers)
                assert got.headers["www-authenticate"] == "Bearer"
        assert client.get("/health").status_code == 200
        good = {"Authorization": f"Bearer {TOKEN}"}
        assert client.post("/v1/rewards", json=body, headers=good).status_code == 200
        assert client.get("/info", headers=good).status_code == 200
        assert client.get("/nope", headers=good).status_code == 404


def test_info_names_version_head_and_representation(client, bt_head, encoder):
    import embrm

    info = client.get("/info").json()
    assert info["embrm_version"] == embrm.__version__
    assert info["head"] == "BTLinear"
    assert info["representation"] == encoder.identity == bt_head.encoder_id_
    assert info["cache_writes"] is False and info["ensemble"] is False
    assert info["limits"]["max_answers"] == 4096


def test_ensemble_disagreement_and_lcb_penalty(ensemble_head, bt_head, encoder, texts):
    prompts, answers = texts[0][:8], texts[1][:8]
    members = ensemble_head.member_rewards(encoder.encode_responses(prompts, answers))
    body = {"prompts": prompts, "answers": answers, "disagreement": True}
    with TestClient(create_app(ensemble_head, encoder)) as client:
        got = client.post("/v1/rewards", json=body).json()
        np.testing.assert_array_equal(got["rewards"], in_process(ensemble_head, encoder, prompts, answers))
        np.testing.assert_allclose(got["disagreement"], members.std(axis=1), rtol=0, atol=1e-12)
        np.testing.assert_allclose(
            np.square(got["disagreement"]),
            ensemble_head.uncertainty(encoder.encode_responses(prompts, answers)),
            rtol=1e-12,
        )
    with TestClient(create_app(ensemble_head, encoder, penalty="lcb", penalty_weight=0.7)) as client:
        got = client.post("/v1/rewards", json=body).json()
        expected = members.mean(axis=1) - 0.7 * members.std(axis=1)
        np.testing.assert_allclose(got["rewards"], expected, rtol=0, atol=1e-12)
        assert not np.allclose(got["rewards"], members.mean(axis=1))
        assert client.get("/info").json()["penalty"] == "lcb"
    # the old name warns and serves the same rewards
    with pytest.warns(DeprecationWarning, match="penalty='uwo' was renamed 'lcb'"):
        old = create_app(ensemble_head, encoder, penalty="uwo", penalty_weight=0.7)
    with TestClient(old) as client:
        got = client.post("/v1/rewards", json=body).json()
        np.testing.assert_allclose(got["rewards"], expected, rtol=0, atol=1e-12)
        assert client.get("/info").json()["penalty"] == "lcb"
    with pytest.raises(ValueError, match="Ensemble"):
        create_app(bt_head, encoder, penalty="lcb", penalty_weight=1.0)
    with pytest.raises(ValueError, match="penalty_weight"):
        create_app(ensemble_head, encoder, penalty_weight=1.0)
    with pytest.raises(ValueError, match="penalty must be"):
        create_app(ensemble_head, encoder, penalty="min")


def test_create_app_refuses_bad_options_and_a_head_of_another_encoder(bt_head, encoder):
    from embrm.heads import BTLinear

    for bad in ({"max_batch": 0}, {"max_answers": -1}, {"max_bytes": 1.5}, {"max_wait_ms": float("nan")}):
        with pytest.raises(ValueError):
            create_app(bt_head, encoder, **bad)
    other = BTLinear().fit(np.eye(256)[:4], np.eye(256)[4:8], encoder_id="another-encoder")
    from embrm.exceptions import EncoderMismatchError

    with pytest.raises(EncoderMismatchError, match=r"but the service's encoder is .*embrm serve --model"):
        create_app(other, encoder)


def test_cached_vectors_are_read_and_new_ones_are_not_written_unless_asked(
    bt_head, pairs, serve_cache, texts
):
    data, X_win, _ = pairs
    prompts = data.frame["prompt"].to_list()[:10]
    chosen = data.frame["chosen"].to_list()[:10]
    encoder = static_encoder(serve_cache)
    with TestClient(create_app(bt_head, encoder)) as client:
        calls, stored = encoder.n_inference_calls, len(encoder.cache)
        got = client.post("/v1/rewards", json={"prompts": prompts, "answers": chosen}).json()
        assert encoder.n_inference_calls == calls  # all cached: read, not recomputed
        np.testing.assert_array_equal(got["rewards"], bt_head.reward(X_win[:10]))
        client.post("/v1/rewards", json={"prompts": texts[0][:5], "answers": texts[1][:5]})
        assert encoder.n_inference_calls == calls + 1 and len(encoder.cache) == stored  # not written
    writer = static_encoder(serve_cache, write_cache=True)
    with TestClient(create_app(bt_head, writer)) as client:
        assert client.get("/info").json()["cache_writes"] is True
        client.post("/v1/rewards", json={"prompts": texts[0][5:8], "answers": texts[1][5:8]})
        assert len(writer.cache) == stored + 3


def test_concurrent_requests_share_encoder_calls_and_get_their_own_rewards(bt_head, encoder, texts):
    prompts, answers = texts
    app = create_app(bt_head, encoder, max_wait_ms=200, max_batch=1000)
    n = 20
    expected = in_process(bt_head, static_encoder(encoder.cache_dir), prompts, answers)

    async def run() -> list[dict]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            bodies = [{"prompts": prompts[i : i + 3], "answers": answers[i : i + 3]} for i in range(n)]
            got = await asyncio.gather(*(client.post("/v1/rewards", json=b) for b in bodies))
            return [g.json() for g in got]

    calls = encoder.n_inference_calls
    results = asyncio.run(run())
    for i, result in enumerate(results):
        assert_same_rewards(result["rewards"], expected[i : i + 3])
    batcher = app.state.batcher
    assert batcher.n_requests == n
    assert batcher.n_batches < n and encoder.n_inference_calls - calls < n
    assert batcher.n_batches == 1  # all twenty arrived within the 200 ms window


class PoisonEncoder:
    """The static encoder, except that it fails on any batch holding the answer "POISON"."""

    def __init__(self, inner):
        self.inner, self.identity = inner, inner.identity
        self.batches: list[int] = []

    def encode_responses(self, prompts, responses):
        self.batches.append(len(responses))
        if "POISON" in responses:
            raise RuntimeError("the encoder choked")
        return self.inner.encode_responses(prompts, responses)


def test_one_failing_request_does_not_fail_the_others_batched_with_it(bt_head, encoder, texts):
    prompts, answers = texts[0][:4], texts[1][:4]
    poison = PoisonEncoder(encoder)
    app = create_app(bt_head, poison, max_wait_ms=300)
    bodies = [
        {"prompts": prompts[:2], "answers": answers[:2]},
        {"prompts": ["p"], "answers": ["POISON"]},
        {"prompts": prompts[2:], "answers": answers[2:]},
    ]

    async def run():
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            return await asyncio.gather(*(client.post("/v1/rewards", json=b) for b in bodies))

    good, bad, other = asyncio.run(run())
    assert bad.status_code == 500 and "the encoder choked" in bad.json()["error"]
    expected = in_process(bt_head, encoder, prompts, answers)
    assert_same_rewards(good.json()["rewards"], expected[:2])
    assert_same_rewards(other.json()["rewards"], expected[2:])
    assert poison.batches == [5, 2, 1, 2]  # the batch of all three, then each on its own


def test_batches_hold_at_most_max_batch_answers(bt_head, encoder, texts):
    prompts, answers = texts
    spy = PoisonEncoder(encoder)
    app = create_app(bt_head, spy, max_wait_ms=200, max_batch=7)

    async def run():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            bodies = [{"prompts": prompts[i : i + 3], "answers": answers[i : i + 3]} for i in range(0, 30, 3)]
            return await asyncio.gather(*(client.post("/v1/rewards", json=b) for b in bodies))

    results = asyncio.run(run())
    assert all(r.status_code == 200 for r in results)
    assert spy.batches and max(spy.batches) <= 7 and sum(spy.batches) == 30
    assert len(spy.batches) == 5  # two requests of 3 per batch


def test_an_empty_request_gets_empty_rewards(client):
    assert client.post("/v1/rewards", json={"prompts": [], "answers": []}).json() == {"rewards": []}
    assert client.post("/get_reward", json={"query": []}).json() == {"rewards": [], "scores": []}


def test_error_bodies_are_json_objects_with_error_field_status(client):
    got = client.post("/v1/rewards", content=b"{")
    assert set(json.loads(got.content)) == {"error", "field", "status"}
    assert got.headers["content-type"] == "application/json"
