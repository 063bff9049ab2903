"""The corrections in `streams.fixes`: checked before they are applied, and on exactly where they belong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from streams.fixes import FIXES, Fix, FixError, check_targets
from streams.fixes.faust_fresh_partitions import partitions_to_reset

ROOT = Path(__file__).resolve().parent.parent


def test_a_library_that_lost_a_patched_attribute_stops_the_worker_with_its_name():
    class Upgraded:  # what a library class looks like after the attribute was renamed
        pass

    gone = Fix("an example", "faust", Upgraded, "_flush_soon", lambda: None, "why it was needed")
    with pytest.raises(FixError, match=r"Upgraded\._flush_soon no longer exists.*why it was needed"):
        check_targets([*FIXES, gone])
    check_targets()  # the installed libraries have every target


def _fixes_applied_in_a_worker(embedded: str) -> list[str]:
    script = (
        "import orjson\n"
        "from streams.runtime import build_app\n"
        "from streams.settings import Settings\n"
        "from streams.fixes import FIXES\n"
        "build_app(Settings.from_env())\n"
        "print(orjson.dumps([f.name for f in FIXES if f.applied()]).decode())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BROKER"}
    env["NEWSSTREAMS_EMBEDDED_BROKER"] = embedded
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return orjson.loads(done.stdout.strip().splitlines()[-1])


def test_a_worker_on_kafka_gets_only_the_library_corrections():
    assert set(_fixes_applied_in_a_worker("0")) == {f.name for f in FIXES if f.corrects == "faust"}


def test_a_worker_on_the_embedded_broker_gets_every_correction():
    assert set(_fixes_applied_in_a_worker("1")) == {f.name for f in FIXES}


def test_never_committed_and_committed_at_zero_partitions_are_told_apart():
    never, at_zero = partitions_to_reset({"a": None, "b": -1, "c": 0, "d": 7})
    assert never == ["a", "b"] and at_zero == ["c"]
