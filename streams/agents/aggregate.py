"""entities.mentions (mention batches) -> windowed counts; closed windows -> trending.entities.

Windows close on stream time (the largest event time this partition has seen,
minus the grace period), never on the wall clock, so a backfill of old
articles closes the same windows a live run would have.
"""

from __future__ import annotations

import orjson

from .. import metrics
from ..app import WINDOW_SPECS, app, mentions_topic, settings, stream_time, trending_topic, window_counts
from ..trending.mention_batch import read_mention_batch
from ..trending.windows import close_windows, count_mention, window_may_end
from ..trending.write_behind import WriteBehind
from .common import decode_json, log, send_dead_letter

# Closed windows stay queryable (and serve as baseline) this long in stream time.
RETENTION_WINDOWS = 8


def _retention() -> float:
    return max(spec.size for spec in WINDOW_SPECS) * RETENTION_WINDOWS


@app.agent(mentions_topic, name="aggregate")
async def aggregate_agent(stream):
    async for event in stream.events():
        partition = event.message.partition
        try:
            mentions = read_mention_batch(decode_json(event.value))
        except Exception as exc:
            await send_dead_letter(event, "aggregate", f"bad mention batch: {type(exc).__name__}: {exc}", exc)
            continue
        try:
            await _count(event, mentions, partition)
        except Exception as exc:  # keep counting the next batches whatever this one did
            log.exception("aggregate failed")
            await send_dead_letter(event, "aggregate", f"{type(exc).__name__}: {exc}", exc)


async def _count(event, mentions: list[dict], partition: int) -> None:
    """Count a batch in order, as if one mention at a time, with one table write per touched key.

    Stream time advances mention by mention, so lateness and window closing
    happen exactly where they would for single mentions; the writes collect in a
    write-behind layer and reach the table (and its changelog) once at the end.
    """
    part_key = str(partition)
    previous = running = stream_time.get(part_key)
    counts = WriteBehind(window_counts)
    late, finals = [], []
    for mention in mentions:
        metrics.MENTION_RECORDS.inc()
        watermark = None if running is None else running - settings.grace
        result = count_mention(counts, mention, WINDOW_SPECS, watermark, partition)
        metrics.MENTIONS.inc(1 if result.counted else 0)
        if result.repeated:
            metrics.REPEATED.inc()
        if result.late:
            metrics.LATE.inc()
            counted = f" (counted in {', '.join(result.counted)})" if result.counted else ""
            late.append(f"{mention['article_id']}: {', '.join(result.late)}{counted} (watermark {watermark})")
        ts = float(mention["event_ts"])
        if running is None or ts > running:
            running = ts
            if window_may_end(watermark, ts - settings.grace, WINDOW_SPECS):
                finals += close_windows(
                    counts, WINDOW_SPECS, partition=partition, watermark=ts - settings.grace, retention=_retention(),
                )
    counts.flush()
    if running != previous:
        stream_time[part_key] = running
        metrics.WATERMARK.labels(part_key).set(running - settings.grace)
    if late:
        await send_dead_letter(event, "aggregate", f"late: windows had closed: {'; '.join(late)}")
    for final in finals:
        await trending_topic.send(key=final["entity_id"].encode(), value=orjson.dumps(final))
        metrics.WINDOWS_CLOSED.labels(final["window"]).inc()
    if finals:
        log.info("closed %d windows on partition %d", len(finals), partition)
