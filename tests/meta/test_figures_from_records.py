"""Every decimal figure in README.md and the guides under docs/ comes from a committed record.

A figure in prose (``0.621``, ``59.5%``, ``3,770``) must occur in some record under
``docs/results/`` (``python scripts/make_results.py --collect results`` puts them there), or
sit in a generated block (``<!-- NAME:start -->`` ... ``<!-- NAME:end -->``, rendered from
the records), or be plainly an example in a code block, or be a definition listed with its
reason in ``make_results.DEFINITIONS``. Plain integers are not checked.
"""

from __future__ import annotations

import json
import sys

from _repo_scripts import ROOT, load_module, make_results, record


def test_every_figure_in_the_guides_is_in_a_record():
    records = make_results.record_text()
    pages = make_results.guides()
    assert ROOT / "README.md" in pages and ROOT / "docs" / "scaling.md" in pages
    assert ROOT / "docs" / "results.md" not in pages  # generated from the records
    missing = {
        str(page.relative_to(ROOT)): bad
        for page in pages
        if (bad := make_results.unrecorded_figures(page.read_text(), records))
    }
    assert not missing, (
        f"figures no record holds: {missing}; render them from a record (scripts/make_results.py), "
        "or say what was seen without the number"
    )


def test_a_planted_hand_typed_figure_fails(tmp_path):
    records_dir = tmp_path / "docs" / "results" / "benchmarks"
    records_dir.mkdir(parents=True)
    (records_dir / "x.json").write_text(
        json.dumps({"output": "| a | 0.621 | 3770 texts/s |", "setup": {"rate": 0.205}})
    )
    records = make_results.record_text(tmp_path / "docs" / "results")
    (tmp_path / "docs" / "guide.md").write_text("The head reached 0.1234 on the planted set.\n")
    (tmp_path / "README.md").write_text("Static embeds 3,770 texts/s; BT 0.621 (in a record).\n")
    found = {
        p.name: make_results.unrecorded_figures(p.read_text(), records)
        for p in make_results.guides(tmp_path)
    }
    assert found == {"README.md": [], "guide.md": ["0.1234"]}
    # Percentages, thousands separators, signs and rounding are checked as written.
    prose = "It won 22.6% of pairs, 1,590 of them, a gain of −0.273; 0.62 is not 0.621; 0.205 is."
    assert make_results.unrecorded_figures(prose, records) == ["22.6", "1,590", "0.273", "0.62"]
    # What is not prose is not checked: code blocks, inline code, generated blocks, links.
    not_prose = (
        "```text\n0.1234\n```\n\n    ray start 127.0.0.1 0.9999\n\n`alpha=0.1234`\n"
        "<!-- x:start -->\n| a | 0.1234 |\n<!-- x:end -->\n[paper](https://arxiv.org/abs/2210.10760)\n"
    )
    assert make_results.unrecorded_figures(not_prose, records) == []
    # A definition on the allow-list passes only by its listing.
    assert make_results.unrecorded_figures("chunks of 16,384 rows", records) == []
    assert make_results.unrecorded_figures("chunks of 16,384 rows", records, allowed={}) == ["16,384"]


def test_each_definition_has_a_reason_and_is_still_used():
    text = "\n".join(make_results.prose(p.read_text()) for p in make_results.guides())
    for figure, reason in make_results.DEFINITIONS.items():
        assert len(reason) > 10, figure
        assert figure in make_results.figures(text), f"{figure} is no longer in the guides: drop it"


def test_generated_blocks_are_what_the_records_render():
    records = make_results.load_records()
    for page in {page for page, _, _ in make_results.BLOCKS}:
        text = (ROOT / page).read_text()
        if page == "README.md":
            text = make_results.render_readme(text, records)
        assert (ROOT / page).read_text() == make_results.render_blocks(text, page, records), (
            f"{page}: run python scripts/make_results.py"
        )


def test_records_say_which_cpu(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC  9654 96-Core Processor\n\nprocessor\t: 1\n")
    machine = record.machine(cpuinfo)
    assert "AMD EPYC 9654 96-Core Processor" in machine and machine.endswith(" cores")
    assert record.machine(tmp_path / "absent").endswith(" cores")  # no cpuinfo: still says cores
    # The experiments' summaries write the same string.
    sys.path.insert(0, str(ROOT / "experiments"))
    try:
        common = load_module(ROOT / "experiments" / "_common.py", "experiments_common_figures")
    finally:
        sys.path.remove(str(ROOT / "experiments"))
    assert common.machine(cpuinfo) == machine
    # Records made from now on say the model (older records keep what they said).
    for kind in ("experiments", "benchmarks"):
        for name, r in make_results.load_records()[kind].items():
            if r["finished_utc"] >= "2026-12-06":
                assert r["machine"].count(",") >= 2, (name, r["machine"])
