"""entities.mentions (mention batches) -> windowed counts; closed windows -> trending.entities.

Windows close on each partition's watermark: the event-time progress of the
slowest upstream input, carried in record headers (`trending/progress.py`),
less the grace period; never on the wall clock, so a backfill of old articles
closes the same windows a live run would have, and never on the fastest input,
so a backlog read from several partitions at once loses nothing.

Messages are taken a batch at a time and counted through a write-back overlay:
each pane an entity touches in the batch is written to the table, and so to its
changelog, once rather than once per article. A batch is acknowledged only
after all of it is counted and flushed (a worker stopped inside a batch reads
it again), and counting is idempotent per article, so nothing counts twice.
"""

from __future__ import annotations

from collections import defaultdict

import orjson

from .. import metrics, topics
from ..app import WINDOW_SPECS, app, mentions_topic, settings, trending_topic, window_counts, window_index
from ..pipeline import RejectedArticle
from ..topology import stage
from ..trending.mention_batch import read_mention_batch
from ..trending.progress import PartitionWatermark
from ..trending.windows import advance_windows, count_mention, progress_entry, progress_key
from ..trending.write_back import WriteBack
from . import progress
from .common import REFUSED, attempt, decode_json, log, send_dead_letter, write_tables_for

STAGE = stage("aggregate")
"""Its batch (mention messages that share one table flush) is declared in the topology."""


@app.agent(mentions_topic, name=STAGE.name)
async def aggregate_agent(stream):
    async for events in stream.noack_take(STAGE.batch, within=STAGE.batch_seconds):
        by_partition = defaultdict(list)
        for event in events:
            by_partition[event.message.partition].append(event)
        for partition, own in by_partition.items():
            await _count_partition(partition, own)
        for event in events:
            await stream.ack(event)


async def _count_partition(partition: int, events: list) -> None:
    """Count one partition's share of a batch in offset order, advance its windows, then write what changed once."""
    window_index.ensure(window_counts, partition)
    part_key = progress_key(partition)
    state = window_counts.get(part_key)
    clock = PartitionWatermark.from_entry(state, progress.partitions_of(topics.ENRICHED), settings.grace)
    counts = WriteBack(window_counts)
    revised: set[str] = set()
    for event in events:
        if not progress.is_heartbeat(event):
            revised |= await _count_message(event, partition, counts, clock.previous)
        clock.observe(progress.progress_of(event))
    advanced = clock.advanced()
    published = []
    if revised or advanced != clock.previous:
        published = await attempt(events[-1], STAGE.name, advance_windows, counts, WINDOW_SPECS, partition=partition,
                                  previous=clock.previous, watermark=advanced, index=window_index, revised=revised)
        if published is REFUSED:  # the counts are kept; closing is tried again with the next batch
            published, advanced = [], clock.previous
    # Records first, then the table writes that say they were made: a worker stopped in between
    # closes the windows again from the older state it recovers, and publishes them again.
    for record in published:
        await trending_topic.send(key=record["entity_id"].encode(), value=orjson.dumps(record))
        (metrics.WINDOWS_REVISED if record["revision"] else metrics.WINDOWS_CLOSED).labels(record["window"]).inc()
    with metrics.stage_cpu(STAGE.name):
        new_state = progress_entry(partition, clock.merge.to_dict(), advanced)
        if new_state != (state or {}):
            counts[part_key] = new_state  # written last: after the counts it stands for
        write_tables_for(events[-1])
        counts.flush()
    if advanced is not None:
        metrics.WATERMARK.labels(str(partition)).set(advanced)
    if published:
        log.info("published %d windows on partition %d", len(published), partition)


async def _count_message(event, partition: int, counts: WriteBack, watermark: float | None) -> set[str]:
    """Count one mention message; returns the closed windows it changed. Late mentions are reported."""
    mentions = await attempt(event, STAGE.name, _read_batch, event.value)
    if mentions is REFUSED:
        return set()
    counted = await attempt(event, STAGE.name, _count_mentions, mentions, partition, counts, watermark)
    if counted is REFUSED:
        return set()
    revised, late = counted
    if late:
        await send_dead_letter(
            event, STAGE.name,
            f"late: past the windows' allowed lateness (watermark {watermark}): {'; '.join(late)}",
        )
    return revised


def _read_batch(payload: bytes) -> list[dict]:
    try:
        return read_mention_batch(decode_json(payload))
    except Exception as exc:
        raise RejectedArticle(f"bad mention batch: {type(exc).__name__}: {exc}") from exc


def _count_mentions(mentions: list[dict], partition: int, counts: WriteBack,
                    watermark: float | None) -> tuple[set[str], list[str]]:
    """Count mentions into their panes: (closed windows changed, descriptions of late mentions)."""
    late, revised = [], set()
    for mention in mentions:
        metrics.MENTION_RECORDS.inc()
        result = count_mention(counts, mention, WINDOW_SPECS, watermark, partition, window_index)
        metrics.MENTIONS.inc(1 if result.counted else 0)
        revised.update(result.revised)
        if result.repeated:
            metrics.REPEATED.inc()
        if result.late:
            metrics.LATE.inc()
            counted = f" (counted in {', '.join(result.counted)})" if result.counted else ""
            late.append(f"{', '.join(result.late)}{counted}")
    return revised, late
