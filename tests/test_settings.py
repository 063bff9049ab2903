"""Environment settings: a value the worker cannot run with is named in a short error, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from streams.settings import DEFAULT_DEDUPE_CAPACITY, Settings, SettingsError


def test_the_near_duplicate_capacity_has_a_default_and_can_be_set(monkeypatch):
    monkeypatch.delenv("NEWSSTREAMS_DEDUPE_CAPACITY", raising=False)
    assert Settings.from_env().dedupe_capacity == DEFAULT_DEDUPE_CAPACITY
    monkeypatch.setenv("NEWSSTREAMS_DEDUPE_CAPACITY", "1200")
    assert Settings.from_env().dedupe_capacity == 1200


@pytest.mark.parametrize(("name", "value", "message"), [
    ("NEWSSTREAMS_DEDUPE_CAPACITY", "0", "NEWSSTREAMS_DEDUPE_CAPACITY must be at least 1, got 0"),
    ("NEWSSTREAMS_DEDUPE_CAPACITY", "lots", "NEWSSTREAMS_DEDUPE_CAPACITY must be a whole number, got 'lots'"),
    ("NEWSSTREAMS_GRACE", "soon", "NEWSSTREAMS_GRACE: not a duration: 'soon'"),
    ("NEWSSTREAMS_WINDOWS", "5m,5m", "NEWSSTREAMS_WINDOWS: a window is listed twice"),
])
def test_a_bad_value_names_its_variable(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        Settings.from_env()


def test_the_worker_refuses_a_bad_value_with_one_line_and_exit_status_2(tmp_path):
    env = {**os.environ, "KAFKA_BROKER": "kafka://127.0.0.1:1", "NEWSSTREAMS_DEDUPE_CAPACITY": "-5",
           "NEWSSTREAMS_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "streams", "worker"], env=env, capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == "newsstreams worker: NEWSSTREAMS_DEDUPE_CAPACITY must be at least 1, got -5"
