"""entities.mentions (mention batches) -> windowed counts; closed windows -> trending.entities.

Windows close on stream time (the largest event time this partition has seen,
minus the grace period), never on the wall clock, so a backfill of old
articles closes the same windows a live run would have.

Messages are taken a batch at a time and counted through a write-back overlay:
each pane an entity touches in the batch is written to the table, and so to its
changelog, once rather than once per article. A batch is acknowledged only
after all of it is counted and flushed (a worker stopped inside a batch reads
it again), and counting is idempotent per article, so nothing counts twice.
"""

from __future__ import annotations

from collections import defaultdict

import orjson

from .. import metrics
from ..app import WINDOW_SPECS, app, mentions_topic, settings, stream_time, trending_topic, window_counts
from ..trending.mention_batch import read_mention_batch
from ..trending.score import BASELINE_WINDOWS
from ..trending.windows import close_windows, count_mention, window_may_end
from ..trending.write_back import WriteBack
from .common import decode_json, log, send_dead_letter, write_tables_for

# Closed windows stay queryable (and serve as baseline) for this many of their
# own length in stream time: the windows a score's baseline reads, and two more.
RETENTION_WINDOWS = BASELINE_WINDOWS + 2
# Up to this many mention messages share one table flush; a quiet stream waits
# at most BATCH_SECONDS for company.
BATCH_MESSAGES = 200
BATCH_SECONDS = 0.2


@app.agent(mentions_topic, name="aggregate")
async def aggregate_agent(stream):
    async for events in stream.noack_take(BATCH_MESSAGES, within=BATCH_SECONDS):
        by_partition = defaultdict(list)
        for event in events:
            by_partition[event.message.partition].append(event)
        for partition, own in by_partition.items():
            await _count_partition(partition, own)
        for event in events:
            await stream.ack(event)


async def _count_partition(partition: int, events: list) -> None:
    """Count one partition's share of a batch in offset order, then write what changed once."""
    part_key = str(partition)
    counts = WriteBack(window_counts)
    previous = latest = stream_time.get(part_key)
    for event in events:
        try:
            with metrics.stage_cpu("aggregate"):
                mentions = read_mention_batch(decode_json(event.value))
        except Exception as exc:
            await send_dead_letter(event, "aggregate", f"bad mention batch: {type(exc).__name__}: {exc}", exc)
            continue
        try:
            latest = await _count(event, mentions, partition, counts, latest)
        except Exception as exc:  # keep counting the next batches whatever this one did
            log.exception("aggregate failed")
            await send_dead_letter(event, "aggregate", f"{type(exc).__name__}: {exc}", exc)
    with metrics.stage_cpu("aggregate"):
        write_tables_for(events[-1])
        counts.flush()
        if latest is not None and latest != previous:
            stream_time[part_key] = latest


async def _count(event, mentions: list[dict], partition: int, counts: WriteBack,
                 previous: float | None) -> float | None:
    """Count one message's mentions; returns the partition's stream time after it."""
    watermark = None if previous is None else previous - settings.grace
    late = []
    with metrics.stage_cpu("aggregate"):
        for mention in mentions:
            metrics.MENTION_RECORDS.inc()
            result = count_mention(counts, mention, WINDOW_SPECS, watermark, partition)
            metrics.MENTIONS.inc(1 if result.counted else 0)
            if result.repeated:
                metrics.REPEATED.inc()
            if result.late:
                metrics.LATE.inc()
                counted = f" (counted in {', '.join(result.counted)})" if result.counted else ""
                late.append(f"{', '.join(result.late)}{counted}")
    if late:
        await send_dead_letter(
            event, "aggregate", f"late: windows had closed (watermark {watermark}): {'; '.join(late)}",
        )
    ts = max(float(mention["event_ts"]) for mention in mentions)
    if previous is not None and ts <= previous:
        return previous
    new_watermark = ts - settings.grace
    metrics.WATERMARK.labels(str(partition)).set(new_watermark)
    old_watermark = None if previous is None else previous - settings.grace
    if window_may_end(old_watermark, new_watermark, WINDOW_SPECS):
        with metrics.stage_cpu("aggregate"):
            write_tables_for(event)
            counts.flush()
            finals = close_windows(
                window_counts, WINDOW_SPECS, partition=partition, watermark=new_watermark,
                keep_windows=RETENTION_WINDOWS,
            )
        for final in finals:
            await trending_topic.send(key=final["entity_id"].encode(), value=orjson.dumps(final))
            metrics.WINDOWS_CLOSED.labels(final["window"]).inc()
        if finals:
            log.info("closed %d windows on partition %d", len(finals), partition)
    return ts
