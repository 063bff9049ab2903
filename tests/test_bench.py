"""The bench's input (distinct seed-like news, so the figures include window counting) and its clocks."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import orjson
import pytest

from streams.tools.bench import _ensure_topic, _first_timestamp, cpu_seconds, seed_like_articles
from streams.clock import iso_to_epoch
from streams.kafka_io import start_producer
from streams.pipeline import Pipeline, mentions_of


def test_bench_articles_are_distinct_news_spread_in_event_time():
    payloads = [orjson.loads(p) for p in seed_like_articles(300, prefix="t", spacing=2.0)]
    assert len({a["id"] for a in payloads}) == 300
    times = [iso_to_epoch(a["published_at"]) for a in payloads]
    assert all(abs((later - earlier) - 2.0) < 1e-3 for earlier, later in zip(times, times[1:]))
    pipeline = Pipeline()
    enriched = [article for a in payloads[:120] for article in pipeline.process(orjson.dumps(a))]
    duplicates = [a for a in enriched if a["duplicate_of"]]
    assert len(duplicates) <= 2, [a["id"] for a in duplicates]
    assert sum(len(mentions_of(a)) for a in enriched) >= 120 * 5


def test_bench_article_size_follows_the_sentence_count():
    short = [len(orjson.loads(p)["body"]) for p in seed_like_articles(20, prefix="s", sentences=(4, 4))]
    long = [len(orjson.loads(p)["body"]) for p in seed_like_articles(20, prefix="l", sentences=(64, 64))]
    assert sum(long) > 8 * sum(short)


@pytest.mark.broker
async def test_the_pipeline_clock_starts_at_the_earliest_first_record_of_any_partition(broker):
    """A worker may fill one partition long before another; the run starts at the earliest."""
    topic = "bench.clock"
    await _ensure_topic(broker, topic, partitions=3)
    base = int(time.time() * 1000) - 60_000
    producer = await start_producer(broker)
    try:
        await producer.send_and_wait(topic, b"first on 0", partition=0, timestamp_ms=base + 5_000)
        await producer.send_and_wait(topic, b"first on 1", partition=1, timestamp_ms=base + 2_000)
        await producer.send_and_wait(topic, b"second on 1", partition=1, timestamp_ms=base + 9_000)
    finally:
        await producer.stop()
    # Partition 2 stays empty and must not hold the reading up.
    assert await asyncio.wait_for(_first_timestamp(broker, topic), 30) == pytest.approx((base + 2_000) / 1000)


def test_cpu_is_measured_per_process_and_a_gone_process_counts_nothing():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    own = os.getpid()
    assert cpu_seconds([own]) > 0
    assert cpu_seconds([own, child.pid]) == pytest.approx(cpu_seconds([own]), abs=0.05)


def test_the_bench_measures_routing_apart_from_the_rest_of_enrich():
    from streams.tools.bench import routing_cost

    figures = routing_cost(sample=20)
    assert 0 < figures["section_model_cpu_ms_per_article"] <= figures["route_cpu_ms_per_article"]
    assert figures["route_cpu_ms_per_article"] < figures["enrich_cpu_ms_per_article"]
    assert 0 < figures["route_share_of_enrich"] < 1
