""".ci/run runs with CI=true and runs every slow test except the ones it names as left out,
each with a reason, so a new slow test guarding a claim in the docs is in CI by default."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CI_RUN = (ROOT / ".ci" / "run").read_text()


def _slow_files() -> set[str]:
    return {
        str(path.relative_to(ROOT))
        for path in (ROOT / "tests").rglob("test_*.py")
        if re.search(r"^\s*(pytestmark = pytest\.mark\.slow|@pytest\.mark\.slow)", path.read_text(), re.M)
    }


def test_ci_sets_ci_itself_and_runs_the_default_and_slow_suites():
    commands = [line for line in CI_RUN.splitlines() if line and not line.startswith("#")]
    assert "export CI=true" in commands
    assert commands.index("export CI=true") < min(i for i, c in enumerate(commands) if "scripts/test.sh" in c)
    runs = [c for c in commands if c.startswith("bash scripts/test.sh")]
    assert any("-m slow" not in c for c in runs), "the default suite"
    slow = [c for c in runs if "-m slow" in c]
    assert len(slow) == 1 and slow[0].endswith(" tests"), "every slow test under tests/"


def test_every_slow_file_runs_in_ci_unless_left_out_with_a_reason():
    left_out = set(re.findall(r"--ignore=(\S+)", CI_RUN))
    slow = _slow_files()
    assert {"tests/embed/test_distributed.py", "tests/reliability/test_reliability_faults.py",
            "tests/slow/test_policy_dpo.py"} <= slow - left_out
    assert left_out <= slow, "only slow files are left out"
    for path in left_out:
        assert re.search(rf"^# Left out: {re.escape(path)} \w+", CI_RUN, re.M), f"{path}: say why"
