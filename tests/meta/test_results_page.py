"""docs/results.md and the README's headline figures are generated, never edited by hand."""

from __future__ import annotations

import json

import pytest
from _repo_scripts import ROOT, make_results, record


def test_committed_pages_are_what_the_records_render():
    records = make_results.load_records()
    assert set(records["experiments"]) == set(make_results.EXPERIMENTS)
    assert set(records["benchmarks"]) == set(make_results.BENCHMARKS)
    page = (ROOT / "docs" / "results.md").read_text()
    assert page == make_results.render_page(records), "run: python scripts/make_results.py"
    readme = (ROOT / "README.md").read_text()
    assert readme == make_results.render_readme(readme, records), "run: python scripts/make_results.py"


def test_every_record_says_what_ran_when_and_where():
    for kind in ("experiments", "benchmarks"):
        for name, r in make_results.load_records()[kind].items():
            assert r["command"].startswith(f"python {kind}/{name}.py"), name
            assert r["finished_utc"][:4] == "2026" and "cores" in r["machine"], name


def test_table_cell_reads_the_first_matching_row():
    output = "x\n| path | texts/s |\n|---|---|\n| torch | 20.4 |\n| embrm fp32 | 25.4 |\n\n| a | b |\n"
    assert make_results.table_cell(output, "embrm", "texts/s") == "25.4"
    with pytest.raises(KeyError, match="'onnx'"):
        make_results.table_cell(output, "onnx", "texts/s")


def test_a_benchmark_run_is_recorded_collected_and_rendered(tmp_path, capsys):
    results, records_dir = tmp_path / "results", tmp_path / "records"
    with record.recorded("benchmarks/embed_throughput.py", ["--n-texts", "8"], results / "benchmarks"):
        print("| path | texts/s |\n|---|---|\n| sentence-transformers encode | 3.0 |")
        print("| embrm fp32 (ONNX, fused) | 4.5 |")
        print("| static (model2vec, whole pair) | 300.0 |")
    assert "| embrm fp32 (ONNX, fused) | 4.5 |" in capsys.readouterr().out  # still printed
    saved = json.loads((results / "benchmarks" / "embed_throughput.json").read_text())
    assert saved["command"] == "python benchmarks/embed_throughput.py --n-texts 8"
    assert saved["output"].count("\n") == 5
    # An experiment's full run is collected; a --quick run is not.
    for name, quick in (("hh_harmless", False), ("drm_decomposition", True)):
        (results / name).mkdir(parents=True)
        summary = {
            "title": name.upper(),
            "command": f"python experiments/{name}.py",
            "quick": quick,
            "runtime_s": 12.0,
            "warm_cache": True,
            "machine": "m, 2 cores",
            "finished_utc": "2026-12-01 10:00",
            "headline": {"bt-linear": "0.600"},
            "findings": ["F"],
        }
        (results / name / "summary.json").write_text(json.dumps(summary))
    assert make_results.collect(results, records_dir) == ["hh_harmless", "embed_throughput"]
    records = make_results.load_records(records_dir)
    page = make_results.render_page(records)
    assert "| 2 | HH_HARMLESS | `python experiments/hh_harmless.py` | 12 s, warm cache" in page
    assert "| 5 | drm_decomposition | `python experiments/drm_decomposition.py` | not run |" in page
    assert "`python benchmarks/embed_throughput.py --n-texts 8` (" in page
    readme = make_results.render_readme(f"a\n{make_results.START}\nold\n{make_results.END}\nz\n", records)
    assert "old" not in readme and readme.endswith("z\n")
    assert "| embedding, embrm fp32 (texts/s) | 4.5 |" in readme
    assert "| embedding, static model distilled from MiniLM (texts/s) | 300.0 |" in readme
    assert "| HH-RLHF harmless, BTLinear pairwise accuracy | 0.600 |" in readme


def test_a_failed_benchmark_writes_no_record(tmp_path):
    with pytest.raises(RuntimeError), record.recorded("benchmarks/cache_read.py", [], tmp_path):
        raise RuntimeError("boom")
    assert not list(tmp_path.iterdir())


def test_old_records_are_read_in_todays_words_with_their_numbers():
    old = {"gold": {"n_pairs": 3}, "gold_gain": 0.25, "headline": {"h": "BoN@51 -0.1, null beats 65%"},
           "rows": [{"null_percentile": 0.5, "oracle@all": 1.5, "head": "oracle"}], "aggregate": "uwo"}
    assert make_results.current_words(old) == {
        "golden": {"n_pairs": 3}, "golden_gain": 0.25, "headline": {"h": "BoN@51 -0.1, attack_rank 65%"},
        "rows": [{"attack_rank": 0.5, "golden_bon@all": 1.5, "head": "golden"}], "aggregate": "uwo"}
    # the committed records still hold their old words: nobody edited them
    raw = (ROOT / "docs" / "results" / "experiments" / "bon_smollm.json").read_text()
    read = json.dumps(make_results.load_records()["experiments"]["bon_smollm"])
    assert '"gold"' in raw and '"gold"' not in read and '"golden"' in read


def test_the_cost_quality_table_renders_each_representations_row():
    row = {"representation": "lexical", "embed_texts_per_s": 912.34, "hard_head": "bt-linear",
           "hard_bon": 6.5, "hard_bon_ci_low": 3.25, "hard_bon_ci_high": 9.0, "hard_vs_longest": 3.0,
           "hard_vs_longest_ci_low": 0.06, "hard_vs_longest_ci_high": 7.3, "51_bon": None,
           "hh_head": "bt-linear", "hh_pairwise_accuracy": 0.627, "hh_pairwise_accuracy_ci_low": 0.608,
           "hh_pairwise_accuracy_ci_high": 0.646, "hh_vs_length_only": 0.072,
           "hh_vs_length_only_ci_low": 0.05, "hh_vs_length_only_ci_high": -0.01}
    lines = make_results.render_cost_quality([row])
    assert lines[2] == ("| `lexical` | 912.3 | 6.50 [3.25, 9.00], +3.00 [+0.06, +7.30] (bt-linear) | – | "
                        "0.627 [0.608, 0.646], +0.072 [+0.050, -0.010] (bt-linear) |")
    assert len(lines) == 4 and lines[-1] == ""
    assert make_results.render_cost_quality(None) == []
