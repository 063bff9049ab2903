"""Stage CPU on /metrics: what a stage's own work cost, not the time it spent waiting."""

from __future__ import annotations

import time

import pytest

from streams import metrics


def _stage_seconds(stage: str) -> float:
    for line in metrics.render().decode().splitlines():
        if line.startswith(f'newsstreams_stage_cpu_seconds_total{{stage="{stage}"}} '):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _busy(seconds: float) -> float:
    """Spins for about `seconds` of CPU; returns the thread CPU it took."""
    started = time.thread_time()
    while time.thread_time() - started < seconds:
        sum(range(1000))
    return time.thread_time() - started


def test_a_busy_block_is_charged_to_its_stage_and_a_sleeping_one_is_not():
    before = _stage_seconds("test-busy")
    with metrics.stage_cpu("test-busy"):
        spent = _busy(0.05)
    busy = _stage_seconds("test-busy") - before
    assert spent * 0.9 <= busy <= spent + 0.02

    before = _stage_seconds("test-sleep")
    with metrics.stage_cpu("test-sleep"):
        time.sleep(0.1)
    assert _stage_seconds("test-sleep") - before < 0.02


def test_a_block_that_fails_is_still_charged():
    before = _stage_seconds("test-fail")
    with pytest.raises(ValueError), metrics.stage_cpu("test-fail"):
        _busy(0.03)
        raise ValueError("bad article")
    assert _stage_seconds("test-fail") - before >= 0.025


def test_metrics_carry_the_process_cpu_and_memory():
    text = metrics.render().decode()
    assert "process_cpu_seconds_total " in text
    assert "process_resident_memory_bytes " in text
