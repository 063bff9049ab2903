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
    part_key = str(partition)
    previous = stream_time.get(part_key)
    watermark = None if previous is None else previous - settings.grace
    late = []
    for mention in mentions:
        metrics.MENTION_RECORDS.inc()
        result = count_mention(window_counts, mention, WINDOW_SPECS, watermark, partition)
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
    if previous is None or ts > previous:
        stream_time[part_key] = ts
        new_watermark = ts - settings.grace
        metrics.WATERMARK.labels(part_key).set(new_watermark)
        old_watermark = None if previous is None else previous - settings.grace
        if window_may_end(old_watermark, new_watermark, WINDOW_SPECS):
            finals = close_windows(
                window_counts, WINDOW_SPECS, partition=partition, watermark=new_watermark, retention=_retention(),
            )
            for final in finals:
                await trending_topic.send(key=final["entity_id"].encode(), value=orjson.dumps(final))
                metrics.WINDOWS_CLOSED.labels(final["window"]).inc()
            if finals:
                log.info("closed %d windows on partition %d", len(finals), partition)
