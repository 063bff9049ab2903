"""A fresh clone, with no `../shared` beside it, passes: tests that need the data skip with a reason.

The data in `../shared/data/` is never committed, so a test that reads it
without checking would fail for every user who clones the repository. This
copies the committed files somewhere with nothing beside them and runs every
test module that mentions `shared` there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.timeout(600)


def _committed_files() -> list[str]:
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the committed files cannot be told apart")
    return [name for name in listed.stdout.decode().split("\0") if name]


def test_tests_that_read_shared_data_skip_in_a_clone_without_it(tmp_path):
    clone = tmp_path / "lonely" / "newsstreams"
    for name in _committed_files():
        source = ROOT / name
        if source.is_file():
            target = clone / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    assert not (clone.parent.parent / "shared").exists()
    modules = sorted(
        str(path.relative_to(ROOT)) for path in (ROOT / "tests").glob("test_*.py")
        if '"shared"' in path.read_text(encoding="utf-8") and path.name != Path(__file__).name
    )
    assert "tests/test_features.py" in modules
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("KAFKA_BROKER", None)
    which = subprocess.run([sys.executable, "-c", "import streams; print(streams.__file__)"], cwd=clone, env=env,
                           capture_output=True, text=True, timeout=60)
    assert which.stdout.startswith(str(clone)), which.stdout + which.stderr
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "0", "-m", "not broker", "-p", "no:cacheprovider", "-rs", *modules],
        cwd=clone, env=env, capture_output=True, text=True, timeout=540,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " failed" not in result.stdout and " error" not in result.stdout
