"""Prometheus counters a monitoring team scrapes from `/metrics`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)  # process_cpu_seconds_total, process_resident_memory_bytes, ...

ARTICLES = Counter("newsstreams_articles_total", "Articles that left a stage", ["stage"], registry=REGISTRY)
DEADLETTERS = Counter("newsstreams_deadletters_total", "Records sent to the dead-letter topic", ["stage"], registry=REGISTRY)
ROUTED = Counter("newsstreams_routed_total", "Articles sent to a category topic", ["category"], registry=REGISTRY)
MENTION_RECORDS = Counter(
    "newsstreams_mention_records_total", "Mention records the aggregate stage has taken (counted, repeated or late)",
    registry=REGISTRY,
)
MENTIONS = Counter("newsstreams_mentions_counted_total", "Entity mentions counted into windows", registry=REGISTRY)
LATE = Counter("newsstreams_mentions_late_total", "Mention records too late for at least one window (past its allowed lateness)", registry=REGISTRY)
REPEATED = Counter("newsstreams_mentions_repeated_total", "Mentions ignored because the article was already counted", registry=REGISTRY)
WINDOWS_CLOSED = Counter("newsstreams_windows_closed_total", "Windows closed and published", ["window"], registry=REGISTRY)
WINDOWS_REVISED = Counter(
    "newsstreams_windows_revised_total", "Closed windows published again because late mentions changed them",
    ["window"], registry=REGISTRY,
)
KB_UPDATES = Counter("newsstreams_kb_updates_total", "Knowledge-base records applied from entities.kb", registry=REGISTRY)
WATERMARK = Gauge("newsstreams_watermark_seconds", "Event-time watermark (slowest input less grace) per mentions partition", ["partition"], registry=REGISTRY)
LATENCY = Histogram(
    "newsstreams_enrich_latency_seconds", "From arrival on articles.raw to enriched",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=REGISTRY,
)

STAGE_CPU = Counter(
    "newsstreams_stage_cpu_seconds_total", "CPU seconds of each stage's own work, Kafka and Faust excluded",
    ["stage"], registry=REGISTRY,
)


@contextmanager
def stage_cpu(stage: str) -> Iterator[None]:
    """Counts the CPU of a synchronous block (nothing awaited inside) against `stage`.

    Thread CPU time, so the consumer thread and other tasks are not charged to
    the stage; comparing it with `process_cpu_seconds_total` shows what Faust
    and Kafka cost around the stages.
    """
    counter = _stage_counters.get(stage)
    if counter is None:
        counter = _stage_counters[stage] = STAGE_CPU.labels(stage)
    started = time.thread_time()
    try:
        yield
    finally:
        counter.inc(time.thread_time() - started)


_stage_counters: dict = {}  # stage -> its labelled counter: several blocks per article look it up


def render() -> bytes:
    return generate_latest(REGISTRY)
