"""articles.raw -> articles.parsed (one message per article found in a page)."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import orjson

from .. import metrics
from ..app import app, near_duplicate_index, parsed_topic, raw_topic, settings
from ..pipeline import RejectedArticle, event_time
from . import progress
from .common import PIPELINE, log, send_dead_letter, send_or_dead_letter


def _arrival_time(event) -> str:
    """When the raw message reached the broker: the article's ingestion time."""
    timestamp = event.message.timestamp
    moment = datetime.fromtimestamp(timestamp, timezone.utc) if timestamp else datetime.now(timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# Fingerprints older than this (in ingestion time) are forgotten, and beyond
# NEWSSTREAMS_DEDUPE_CAPACITY of them the oldest are, checked every FORGET_EVERY articles.
DEDUPE_MEMORY_SECONDS = 3 * 86400
FORGET_EVERY = 1000


@app.agent(raw_topic, name="parse")
async def parse_agent(stream):
    seen = 0
    async for event in stream.events():
        seen += 1
        if seen % FORGET_EVERY == 0:
            with metrics.stage_cpu("parse"):
                near_duplicate_index.forget_before(time.time() - DEDUPE_MEMORY_SECONDS)
                near_duplicate_index.forget_oldest(settings.dedupe_capacity)
        latest = await _parse(event)
        progress.parsed(event.message.partition, event.message.offset, latest)
        await progress.before_ack(progress.PARSE, [event])


async def _parse(event) -> float | None:
    """Parse one raw record and send its articles; returns their latest event time (None: no article)."""
    try:
        with metrics.stage_cpu("parse"):
            articles = PIPELINE.parse(event.value, _arrival_time(event), dedupe_index=near_duplicate_index)
            outputs = [(article["id"].encode(), orjson.dumps(article)) for article in articles]
            latest = max((event_time(article) for article in articles), default=None)
    except RejectedArticle as exc:
        await send_dead_letter(event, "parse", exc.reason, exc)
        return None
    except Exception as exc:  # a bug must not stop the stream: keep the input
        log.exception("parse failed")
        await send_dead_letter(event, "parse", f"unexpected error: {exc}", exc)
        return None
    headers = progress.headers_of(progress.PARSE)
    for key, value in outputs:
        if await send_or_dead_letter(parsed_topic, key=key, value=value, event=event, stage="parse",
                                     headers=headers):
            metrics.ARTICLES.labels("parse").inc()
    return latest
