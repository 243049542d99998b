"""Under CI=true nothing may go missing quietly: a skip for a missing package (or any skip not on
``CI_ALLOWED_SKIPS``) fails the run, and so does a run that collects no test. Without CI the
same tests skip, as on a laptop without the extras.

Each case runs pytest in a subprocess on a scratch folder holding copies of the repository's
``tests/conftest.py`` and ``tests/_require.py`` (the hooks under test) and one tiny test file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]

CASES = {
    "module_importorskip": (
        "import pytest\n"
        "pytest.importorskip('embrm_no_such_module')\n"
        "def test_x():\n    pass\n"
    ),
    "module_require": (
        "from _require import require\n"
        "require('embrm_no_such_module')\n"
        "def test_x():\n    pass\n"
    ),
    "skip_in_test": "import pytest\ndef test_x():\n    pytest.skip('no GPU here')\n",
    "importorskip_in_test": (
        "import pytest\ndef test_x():\n    pytest.importorskip('embrm_no_such_module')\n"
    ),
}


def _pytest(tmp_path: Path, ci: str, source: str, *args: str) -> subprocess.CompletedProcess:
    shutil.copy(TESTS / "conftest.py", tmp_path / "conftest.py")
    shutil.copy(TESTS / "_require.py", tmp_path / "_require.py")
    (tmp_path / "test_tiny.py").write_text(source)
    env = {**os.environ, "CI": ci, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_skip_fails_under_ci_and_skips_without(tmp_path, case):
    laptop = _pytest(tmp_path, "false", CASES[case])
    # a skipped module leaves no test collected: pytest's exit code 5 (not green either)
    assert laptop.returncode == (5 if case.startswith("module") else 0), laptop.stdout + laptop.stderr
    assert "1 skipped" in laptop.stdout, laptop.stdout
    ci = _pytest(tmp_path, "true", CASES[case])
    # a module that cannot be imported is a collection error (exit code 2), a test a failure (1)
    assert ci.returncode == (2 if case.startswith("module") else 1), ci.stdout + ci.stderr
    assert "skipped" not in ci.stdout.splitlines()[-1], ci.stdout
    if case == "module_require":  # require raises the ImportError itself under CI
        assert "No module named 'embrm_no_such_module'" in ci.stdout
    else:
        assert "skipped under CI=true" in ci.stdout, ci.stdout


def test_allowed_skips_and_xfail_still_pass_under_ci(tmp_path):
    source = (
        "import pytest\n"
        "def example():\n    '''\n    >>> undefined_name  # doctest: +SKIP\n    '''\n"
        "@pytest.mark.xfail(reason='known', strict=True)\ndef test_known():\n    assert False\n"
        "def test_ok():\n    pass\n"
    )
    run = _pytest(tmp_path, "true", source, "--doctest-modules", "-rs")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed, 1 skipped, 1 xfailed" in run.stdout, run.stdout


def test_collecting_nothing_fails_under_ci(tmp_path):
    source = "def test_x():\n    pass\n"
    assert _pytest(tmp_path, "false", source, "-k", "no_such_test").returncode == 5
    ci = _pytest(tmp_path, "true", source, "-k", "no_such_test")
    assert ci.returncode == 1, ci.stdout + ci.stderr
    assert "no test was collected" in ci.stdout
    (tmp_path / "empty").mkdir()
    assert _pytest(tmp_path, "true", source, "empty").returncode == 1
