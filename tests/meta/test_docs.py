"""The documentation builds strictly (the API reference comes from the docstrings) and its
relative links lead to files of the repository."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from _require import require

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted(
    [
        ROOT / "README.md",
        ROOT / "CHANGELOG.md",
        *(ROOT / "docs").glob("*.md"),
        ROOT / "experiments" / "README.md",
        ROOT / "benchmarks" / "README.md",
    ]
)


def test_mkdocs_build_strict(tmp_path):
    require("mkdocstrings")
    require("mkdocs_jupyter")
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    heads = (tmp_path / "site" / "api" / "heads" / "index.html").read_text()
    for name in ("BTLinear", "ClassifierHead", "adapt_temperature", "Examples"):
        assert name in heads
    # the notebooks are pages (rendered from the committed files, not run), the repository
    # files the pages link to are served under repository/, the import diagram is a mermaid block
    quickstart = (tmp_path / "site" / "notebooks" / "quickstart" / "index.html").read_text()
    assert "load_dataset" in quickstart and "jp-Cell" in quickstart
    experiments = (tmp_path / "site" / "repository" / "experiments" / "index.html").read_text()
    assert "../../results/" in experiments
    assert 'href="../repository/experiments/"' in (tmp_path / "site" / "results" / "index.html").read_text()
    assert '<pre class="mermaid">' in (tmp_path / "site" / "architecture" / "index.html").read_text()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    text = page.read_text()
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        if not path.exists():
            broken.append(target)
    assert not broken, f"{page.name} links to missing files: {broken}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_page_cites_files_outside_the_repository(page):
    assert "ALGORITHMS.md" not in page.read_text()


def _hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_links_out_of_docs_become_links_to_the_site_copy():
    hooks = _hooks()
    page = SimpleNamespace(file=SimpleNamespace(src_uri="representations.md"))
    config = {"docs_dir": str(ROOT / "docs")}
    text = (
        "[a](../experiments/README.md#anchor) [b](heads.md) [c](https://x.org/y) [d](#here) "
        "[e](../experiments/missing.py)"
    )
    assert hooks.on_page_markdown(text, page, config, None) == (
        "[a](repository/experiments/README.md#anchor) [b](heads.md) [c](https://x.org/y) [d](#here) "
        "[e](repository/experiments/missing.py)"
    )
    # a page brought in from the repository links back into docs/ and to its neighbours
    page = SimpleNamespace(file=SimpleNamespace(src_uri="repository/experiments/README.md"))
    assert hooks.on_page_markdown(
        "[r](../docs/results.md) [b](../benchmarks/README.md)", page, config, None
    ) == ("[r](../../results.md) [b](../benchmarks/README.md)")


def test_every_guide_and_notebook_is_linked_from_the_index():
    index = ROOT / "docs" / "index.md"
    linked = {
        (index.parent / target.split("#")[0]).resolve()
        for target in re.findall(r"\]\(([^)\s]+)\)", index.read_text())
    }
    pages = [
        *(ROOT / "docs").glob("*.md"),
        *(ROOT / "docs" / "notebooks").glob("*.ipynb"),
        ROOT / "docs" / "api" / "embrm.md",
    ]
    missing = sorted(str(p.relative_to(ROOT)) for p in pages if p != index and p.resolve() not in linked)
    assert not missing, f"link these from docs/index.md: {missing}"
    assert len(pages) > 15
