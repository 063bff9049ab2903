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
from ..topology import stage
from ..trending.mention_batch import read_mention_batch
from ..trending.progress import ChannelMerge
from ..trending.windows import advance_windows, count_mention, progress_entry, progress_key
from ..trending.write_back import WriteBack
from . import progress
from .common import decode_json, log, send_dead_letter, write_tables_for

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
    state = window_counts.get(part_key) or {}
    merge = ChannelMerge.from_dict(state.get("progress"), progress.partitions_of(topics.ENRICHED))
    watermark = state.get("watermark")
    counts = WriteBack(window_counts)
    revised: set[str] = set()
    for event in events:
        reports = progress.progress_of(event)
        if progress.is_heartbeat(event):
            merge.observe(reports)
            continue
        try:
            with metrics.stage_cpu("aggregate"):
                mentions = read_mention_batch(decode_json(event.value))
        except Exception as exc:
            await send_dead_letter(event, "aggregate", f"bad mention batch: {type(exc).__name__}: {exc}", exc)
            merge.observe(reports)
            continue
        try:
            revised.update(await _count(event, mentions, partition, counts, watermark))
        except Exception as exc:  # keep counting the next batches whatever this one did
            log.exception("aggregate failed")
            await send_dead_letter(event, "aggregate", f"{type(exc).__name__}: {exc}", exc)
        merge.observe(reports)
    combined = merge.combined().watermark
    advanced = watermark
    if combined is not None and (watermark is None or combined - settings.grace > watermark):
        advanced = combined - settings.grace
    published = []
    if revised or advanced != watermark:
        with metrics.stage_cpu("aggregate"):
            published = advance_windows(counts, WINDOW_SPECS, partition=partition, previous=watermark,
                                        watermark=advanced, index=window_index, revised=revised)
    # Records first, then the table writes that say they were made: a worker stopped in between
    # closes the windows again from the older state it recovers, and publishes them again.
    for record in published:
        await trending_topic.send(key=record["entity_id"].encode(), value=orjson.dumps(record))
        (metrics.WINDOWS_REVISED if record["revision"] else metrics.WINDOWS_CLOSED).labels(record["window"]).inc()
    with metrics.stage_cpu("aggregate"):
        new_state = progress_entry(partition, merge.to_dict(), advanced)
        if new_state != state:
            counts[part_key] = new_state  # written last: after the counts it stands for
        write_tables_for(events[-1])
        counts.flush()
    if advanced is not None:
        metrics.WATERMARK.labels(str(partition)).set(advanced)
    if published:
        log.info("published %d windows on partition %d", len(published), partition)


async def _count(event, mentions: list[dict], partition: int, counts: WriteBack, watermark: float | None) -> set[str]:
    """Count one message's mentions; returns the closed windows they changed."""
    late, revised = [], set()
    with metrics.stage_cpu("aggregate"):
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
    if late:
        await send_dead_letter(
            event, "aggregate",
            f"late: past the windows' allowed lateness (watermark {watermark}): {'; '.join(late)}",
        )
    return revised
