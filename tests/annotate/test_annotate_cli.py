"""A round through the command line: `embrm select --tasks`, labels from the page's logs and a
tool's export, `embrm merge-labels ROUND --rule`, training on the merged file; the active
loop inside the page on a real pool; `embrm annotate`'s bind rule."""

from __future__ import annotations

import json

import polars as pl
import pytest
from _require import require

from embrm import load_dataset
from embrm.active import within_prompt_pool
from embrm.annotate import AnnotationRound, NextBatch
from embrm.cli import main


@pytest.fixture
def round_folder(tmp_path, data_dir, encoder, alpaca_prompt_ids, alpaca_embedded):
    data = load_dataset("alpacaeval", data_dir).filter_prompts(alpaca_prompt_ids[:10])
    pool_file = tmp_path / "pool.parquet"
    data.frame.write_parquet(pool_file)
    common = ["--cache-dir", str(encoder.cache_dir), "--data-dir", str(data_dir)]
    folder = tmp_path / "round1"
    folder.mkdir()
    out = folder / "queries.csv"
    args = ["select", str(pool_file), "--budget", "12", "--out", str(out), "--tasks", "label-studio"]
    assert main([*args, *common]) == 0
    return folder, data, common


def test_a_round_with_the_page_and_label_studio_merged_by_a_rule(round_folder, tmp_path, capsys):
    folder, data, common = round_folder
    round_ = AnnotationRound.open(folder)
    ids = round_.pair_ids()
    tasks = json.loads((folder / "queries.label-studio.json").read_text())
    assert [t["data"]["pair_id"] for t in tasks] == ids and tasks[0]["data"]["round_id"] == round_.round_id
    # two annotators on the page; a third in Label Studio
    for i, pair_id in enumerate(ids):
        round_.log.append("alice", pair_id, "a" if i % 2 == 0 else "b")
        round_.log.append("bob", pair_id, "a" if i < 6 else "b")
    selected = ["left" if i % 2 == 0 else "right" for i in range(len(ids))]
    result = [{"type": "pairwise", "value": {"selected": None}, "from_name": "pairwise", "to_name": "a"}]
    export = []
    for i, (task, side) in enumerate(zip(tasks, selected, strict=True)):
        chosen = [{**result[0], "value": {"selected": side}}]
        annotation = {"id": i, "completed_by": 7, "was_cancelled": i == 11, "result": chosen}
        export.append({"id": i, "data": task["data"], "annotations": [annotation]})
    (tmp_path / "export.json").write_text(json.dumps(export))
    out = tmp_path / "merged.csv"
    args = ["merge-labels", str(folder), "--out", str(out), "--labels", str(tmp_path / "export.json")]
    assert main([*args, "--rule", "majority"]) == 0
    printed = capsys.readouterr().out
    assert "merged by majority" in printed and "Fleiss' kappa over 3 annotators" in printed
    # alice and Label Studio's user 7 agree on the 11 pairs both judged; alice and bob on half
    assert "Cohen's kappa alice / user-7: 1.000 on 11 pairs" in printed
    assert "Cohen's kappa alice / bob: 0.000 on 12 pairs" in printed
    merged = pl.read_csv(out, schema_overrides={"label": pl.String})
    assert merged["pair_id"].to_list() == ids and set(merged["rule"]) == {"majority"}
    # alice and Label Studio agree (but LS cancelled pair 11); bob says a on the first 6, b after
    alice = ["a" if i % 2 == 0 else "b" for i in range(12)]
    assert merged["label"].to_list() == alice
    bob = ["a"] * 6 + ["b"] * 6
    assert merged["status"].to_list() == [
        "agreed" if x == y else "split" for x, y in zip(alice, bob, strict=True)
    ]
    row = merged.row(11, named=True)
    assert (row["votes_a"], row["votes_b"], row["skips"], row["annotators"]) == (0, 2, 1, "alice,bob,user-7")
    # the merged file trains a head (ties and undecided pairs are left out)
    head = str(tmp_path / "head.npz")
    assert main(["train", str(out), "--out", head, "--test-size", "0.25", *common]) == 0
    # by `all`, every vote counts: both orientations of the 6 split pairs, weighted
    weighted = tmp_path / "all.csv"
    export_file = str(tmp_path / "export.json")
    assert (
        main(["merge-labels", str(folder), "--out", str(weighted), "--labels", export_file, "--rule", "all"])
        == 0
    )
    from embrm.cli import _load

    pairs = _load(str(weighted), None)
    assert len(pairs) == 12 + 6 and pairs.sample_weight.sum() == pytest.approx(12)
    assert main(["train", str(weighted), "--test-size", "0.25", *common]) == 0


def test_merge_refuses_an_export_of_another_round(round_folder, tmp_path, capsys):
    folder, _, _ = round_folder
    tasks = json.loads((folder / "queries.label-studio.json").read_text())
    tasks[0]["data"]["round_id"] = "0123456789abcdef"
    export = [{"id": 1, "data": tasks[0]["data"], "annotations": []}]
    (tmp_path / "export.json").write_text(json.dumps(export))
    out = tmp_path / "merged.csv"
    assert (
        main(["merge-labels", str(folder), "--out", str(out), "--labels", str(tmp_path / "export.json")]) == 2
    )
    assert "belongs to round '0123456789abcdef'" in capsys.readouterr().err and not out.exists()
    # a file that is not an earlier merge of a round is never replaced
    (tmp_path / "mine.csv").write_text("pair_id,label\nx,a\n")
    assert main(["merge-labels", str(folder), "--rule", "all", "--out", str(tmp_path / "mine.csv")]) == 2
    assert "never replaced" in capsys.readouterr().err
    assert (tmp_path / "mine.csv").read_text() == "pair_id,label\nx,a\n"
    assert main(["merge-labels", str(folder), "--rule", "all", "--out", str(out)]) == 0
    assert (
        main(["merge-labels", str(folder), "--rule", "majority", "--out", str(out)]) == 0
    )  # a merge: replaced
    assert set(pl.read_csv(out)["status"]) == {"unlabelled"}


def test_next_batch_refits_and_adds_pairs_the_round_does_not_hold(
    data_dir, encoder, alpaca_prompt_ids, alpaca_embedded, tmp_path
):
    from embrm.active import select_queries, write_queries

    data = load_dataset("alpacaeval", data_dir).filter_prompts(alpaca_prompt_ids[:10])
    X = data.embed(encoder)
    pool = within_prompt_pool(data)
    (tmp_path / "r").mkdir()
    round_ = AnnotationRound(write_queries(select_queries(pool, X, 6), tmp_path / "r" / "queries.csv"))
    golden = dict(zip(data.frame["response"], data.frame["score"], strict=True))
    queries = round_.queries()
    for row in queries.head(4).iter_rows(named=True):
        round_.log.append(
            "alice", row["pair_id"], "a" if golden[row["response_a"]] > golden[row["response_b"]] else "b"
        )
    merged = round_.votes().select("pair_id", "label")
    batch = NextBatch(pool, X, budget=5)(merged, round_.pair_ids())  # the default strategy
    assert batch.height == 5 and not set(batch["pair_id"]) & set(round_.pair_ids())
    assert round_.add_queries(batch) == 5 and len(round_.pair_ids()) == 11
    # the same labels and queue give the same batch (seeded), computed as `embrm select` would
    again = select_queries(pool, X, 7, labels=merged)
    assert (
        batch["pair_id"].to_list()
        == [p for p in again["pair_id"] if p not in queries["pair_id"].to_list()][:5]
    )


def test_annotate_refuses_to_listen_beyond_loopback_without_a_token(tmp_path, capsys):
    require("uvicorn", reason="the serve extra is not installed: pip install 'embrm[serve]'")
    from _annotate_help import write_round

    queries = write_round(tmp_path / "round", n=2)
    assert main(["annotate", str(queries), "--host", "0.0.0.0", "--port", "9"]) == 2
    assert "give a bearer token" in capsys.readouterr().err
    assert main(["annotate", str(queries), "--annotator", "../x"]) == 2
    assert "Annotator name" in capsys.readouterr().err


def test_select_never_replaces_a_round_labelled_on_the_page(round_folder, tmp_path, capsys):
    folder, _, common = round_folder
    queries = folder / "queries.csv"
    AnnotationRound(queries).log.append("alice", AnnotationRound(queries).pair_ids()[0], "a")
    before = queries.read_bytes()
    pool = str(tmp_path / "pool.parquet")
    assert main(["select", pool, "--budget", "3", "--out", str(queries), *common]) == 2
    assert "annotators have labelled" in capsys.readouterr().err and queries.read_bytes() == before


def test_merge_refuses_logged_labels_of_pairs_the_query_file_lacks(tmp_path, capsys):
    from _annotate_help import write_round

    round_ = AnnotationRound(write_round(tmp_path / "round", n=2))
    round_.log.append("alice", "p00", "a")
    round_.log.append("alice", "gone", "b")  # a pair no longer in the query file
    out = tmp_path / "merged.csv"
    assert main(["merge-labels", str(tmp_path / "round"), "--out", str(out)]) == 2
    assert "'gone'" in capsys.readouterr().err and not out.exists()


def test_annotate_takes_every_strategy_option_select_takes():
    """`embrm annotate --pool` builds its Next-batch strategy as `embrm select` does: the same
    default and every option, reaching the strategy's parameters."""
    from embrm.active import DEFAULT_STRATEGY, STRATEGIES
    from embrm.cli import _strategy, build_parser

    parser = build_parser()
    default = _strategy(parser.parse_args(["annotate", "q.csv"]))
    name, options = DEFAULT_STRATEGY
    assert type(default) is STRATEGIES[name] and options
    assert {k: default.get_params()[k] for k in options} == options
    args = [
        "--strategy",
        "dopt",
        "--normalize",
        "cap",
        "--max-norm",
        "2",
        "--weighting",
        "posterior",
        "--max-per-prompt",
        "3",
        "--random-share",
        "0.25",
        "--prior-strength",
        "0.5",
    ]
    for command in (["annotate", "q.csv"], ["select", "pool", "--budget", "1", "--out", "o.csv"]):
        params = _strategy(parser.parse_args([*command, *args])).get_params()
        assert (params["normalize"], params["max_norm"], params["weighting"]) == ("cap", 2.0, "posterior")
        assert (params["max_per_prompt"], params["random_share"], params["prior_strength"]) == (3, 0.25, 0.5)
