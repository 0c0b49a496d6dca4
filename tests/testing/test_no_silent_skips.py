"""Under ``CI=true`` a test whose server or package is missing fails, however it would skip:
``pytest.skip``, a module's ``pytest.importorskip``, or the test support's ``unavailable``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SKIPPING = {
    "test_skips.py": "import pytest\n\ndef test_needs_a_server():\n    pytest.skip('no server')\n",
    "test_imports.py": "import pytest\n\npytest.importorskip('no_such_package_here')\n\n"
    "def test_uses_it():\n    pass\n",
    "test_unavailable.py": "from lookout_testing.servers import unavailable\n\n"
    "def test_needs_a_binary():\n    unavailable('no binary')\n",
}


CONTINUE = ["--continue-on-collection-errors"]  # (a run stops at a collection error otherwise)


def run_pytest(directory: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *CONTINUE, "."],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def skipping_tests(tmp_path: Path) -> Path:
    for name, text in SKIPPING.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    return tmp_path


def test_skips_fail_under_ci_and_only_skip_elsewhere(skipping_tests: Path) -> None:
    in_ci = run_pytest(skipping_tests, "true")
    assert in_ci.returncode == 1, in_ci.stdout
    summary = in_ci.stdout.strip().splitlines()[-1]
    assert "2 failed" in summary and "1 error" in summary and "skipped" not in summary, summary
    assert in_ci.stdout.count("skipped under CI=true") == 2, in_ci.stdout  # skip, importorskip
    assert "a missing server or package fails, never skips" in in_ci.stdout  # unavailable
    locally = run_pytest(skipping_tests, None)
    assert locally.returncode == 0, locally.stdout
    assert "3 skipped" in locally.stdout, locally.stdout
