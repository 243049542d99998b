"""The labelling page's API through Starlette's TestClient: labels, undo, two annotators, the
token, the Host check, and no way to a file outside the round's folder."""

from __future__ import annotations

import pytest
from _annotate_help import write_round
from _require import require

require("starlette", reason="the serve extra is not installed: pip install 'embrm[serve]'")
require("httpx", reason="the serve extra is not installed: pip install 'embrm[serve]'")

from starlette.testclient import TestClient  # noqa: E402

from embrm.annotate import AnnotationRound, create_annotate_app  # noqa: E402

LOCAL = "http://127.0.0.1"


@pytest.fixture
def round_(tmp_path):
    return AnnotationRound(write_round(tmp_path / "round", n=3))


def client(round_, base_url: str = LOCAL, **options) -> TestClient:
    return TestClient(create_annotate_app(round_, **options), base_url=base_url)


def label(c: TestClient, who: str, pair_id: str, value: str, seconds: float = 2.0) -> dict:
    response = c.post(
        "/api/label", json={"annotator": who, "pair_id": pair_id, "label": value, "seconds": seconds}
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_labels_undo_and_progress(round_):
    c = client(round_, annotator="alice")
    state = c.get("/api/state").json()
    assert (state["labelled"], state["total"], state["pair"]["pair_id"]) == (0, 3, "p00")
    state = label(c, "alice", "p00", "a", 2.0)
    state = label(c, "alice", "p01", "tie", 4.0)
    assert (state["labelled"], state["pair"]["pair_id"], state["seconds_per_label"]) == (2, "p02", 3.0)
    state = c.post("/api/undo", json={"annotator": "alice"}).json()
    assert (state["labelled"], state["pair"]["pair_id"]) == (1, "p01")
    state = label(c, "alice", "p01", "b")
    state = label(c, "alice", "p02", "skip")
    assert state["labelled"] == 3 and state["pair"] is None
    votes = round_.votes()
    assert votes.select("pair_id", "annotator", "label").rows() == [
        ("p00", "alice", "a"), ("p01", "alice", "b"), ("p02", "alice", "skip"),
    ]  # fmt: skip


def test_two_annotators_see_their_own_progress(round_):
    c = client(round_)
    label(c, "alice", "p00", "a")
    label(c, "alice", "p01", "a")
    label(c, "bob", "p00", "b")
    assert c.get("/api/state", params={"annotator": "alice"}).json()["pair"]["pair_id"] == "p02"
    assert c.get("/api/state", params={"annotator": "bob"}).json()["pair"]["pair_id"] == "p01"
    assert sorted(round_.votes()["annotator"].to_list()) == ["alice", "alice", "bob"]


@pytest.mark.parametrize(
    "body, status, words",
    [
        ({"annotator": "alice", "pair_id": "nope", "label": "a"}, 422, "not in this round"),
        ({"annotator": "alice", "pair_id": "p00", "label": "maybe"}, 422, "'label' must be"),
        ({"annotator": "../../etc/passwd", "pair_id": "p00", "label": "a"}, 422, "Annotator name"),
        ({"annotator": "alice", "pair_id": "p00", "label": "a", "seconds": -1}, 422, "seconds"),
    ],
)
def test_bad_labels_are_refused_and_nothing_is_logged(round_, body, status, words):
    response = client(round_).post("/api/label", json=body)
    assert response.status_code == status and words in response.json()["error"]
    assert round_.votes().height == 0
    assert not list(round_.log.folder.glob("*.jsonl"))


def test_a_plain_text_body_is_refused_so_another_site_cannot_post_labels(round_):
    body = '{"annotator": "alice", "pair_id": "p00", "label": "a"}'
    response = client(round_).post("/api/label", content=body, headers={"Content-Type": "text/plain"})
    assert response.status_code == 415 and round_.votes().height == 0


def test_only_the_page_files_are_served_with_a_strict_csp(round_):
    c = client(round_)
    page = c.get("/")
    assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="/app.js"' in page.text and "<script>" not in page.text  # no inline script
    for path in ("/app.js", "/app.css"):
        assert c.get(path).status_code == 200
    for path in (
        "/../queries.csv",
        "/queries.csv",
        "/annotations/alice.jsonl",
        "/static/app.js",
        "/%2e%2e/x",
    ):
        assert c.get(path).status_code == 404, path


def test_other_host_names_are_refused_unless_bound_beyond_loopback(round_):
    assert client(round_, base_url="http://attacker.example").get("/api/state?annotator=a").status_code == 400
    public = client(round_, public_host=True, token="s3cret", base_url="http://10.0.0.5")
    assert public.get("/api/state?annotator=a").status_code == 401


def test_the_token_guards_the_api_but_not_the_page(round_):
    c = client(round_, token="s3cret")
    assert c.get("/").status_code == 200 and c.get("/app.js").status_code == 200
    assert c.get("/api/state", params={"annotator": "a"}).status_code == 401
    assert c.post("/api/label", json={"annotator": "a", "pair_id": "p00", "label": "a"}).status_code == 401
    ok = c.get("/api/state", params={"annotator": "a"}, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200 and round_.votes().height == 0


def test_next_batch_adds_the_selected_pairs_to_the_round(round_):
    import polars as pl

    seen = {}

    def next_batch(labels, queued):
        seen["labels"], seen["queued"] = labels.rows(), list(queued)
        return pl.DataFrame({"pair_id": ["p00", "n1"], "prompt_id": ["0", "9"], "prompt": ["q", "q"],
                             "response_a": ["x", "y"], "response_b": ["u", "v"]})  # fmt: skip

    c = client(round_, next_batch=next_batch)
    label(c, "alice", "p00", "a")
    label(c, "bob", "p00", "a")
    label(c, "bob", "p01", "tie")
    response = c.post("/api/next-batch", json={"annotator": "alice"})
    assert response.status_code == 200, response.text
    state = response.json()
    assert seen == {"labels": [("p00", "a")], "queued": ["p00", "p01", "p02"]}
    assert state["added"] == 1 and state["total"] == 4
    assert round_.pair_ids() == ["p00", "p01", "p02", "n1"]


def test_next_batch_without_a_pool_says_how_to_get_one(round_):
    response = client(round_).post("/api/next-batch", json={"annotator": "alice"})
    assert response.status_code == 422 and "--pool" in response.json()["error"]


def test_a_batch_without_the_rounds_columns_is_refused_and_the_round_kept(round_):
    import polars as pl

    before = round_.queries_path.read_bytes()
    bad = lambda labels, queued: pl.DataFrame({"pair_id": ["n1"], "prompt": ["q"]})  # noqa: E731
    response = client(round_, next_batch=bad).post("/api/next-batch", json={"annotator": "alice"})
    assert response.status_code == 422 and "nothing was added" in response.json()["error"]
    assert round_.queries_path.read_bytes() == before
