"""articles.raw -> articles.parsed (one message per article found in a page)."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import orjson

from .. import metrics
from ..app import app, near_duplicate_index, parsed_topic, raw_topic, settings
from ..pipeline import event_time
from ..topology import stage
from . import progress
from .common import PIPELINE, REFUSED, attempt, send_or_dead_letter


def _arrival_time(event) -> str:
    """When the raw message reached the broker: the article's ingestion time."""
    timestamp = event.message.timestamp
    moment = datetime.fromtimestamp(timestamp, timezone.utc) if timestamp else datetime.now(timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# Fingerprints older than this (in ingestion time) are forgotten, and beyond
# NEWSSTREAMS_DEDUPE_CAPACITY of them the oldest are, checked every FORGET_EVERY articles.
DEDUPE_MEMORY_SECONDS = 3 * 86400
FORGET_EVERY = 1000


STAGE = stage("parse")


@app.agent(raw_topic, name=STAGE.name)
async def parse_agent(stream):
    seen = 0
    async for event in stream.events():
        seen += 1
        if seen % FORGET_EVERY == 0:
            with metrics.stage_cpu(STAGE.name):
                near_duplicate_index.forget_before(time.time() - DEDUPE_MEMORY_SECONDS)
                near_duplicate_index.forget_oldest(settings.dedupe_capacity)
        latest = await _parse(event)
        progress.parsed(event.message.partition, event.message.offset, latest)
        await progress.before_ack(progress.PARSE, [event])


async def _parse(event) -> float | None:
    """Parse one raw record and send its articles; returns their latest event time (None: no article)."""
    parsed = await attempt(event, STAGE.name, _parsed_messages, event.value, _arrival_time(event))
    if parsed is REFUSED:
        return None
    messages, latest = parsed
    headers = progress.headers_of(progress.PARSE)
    for key, value in messages:
        if await send_or_dead_letter(parsed_topic, key=key, value=value, event=event, stage=STAGE.name,
                                     headers=headers):
            metrics.ARTICLES.labels(STAGE.name).inc()
    return latest


def _parsed_messages(payload: bytes, arrival: str) -> tuple[list[tuple[bytes, bytes]], float | None]:
    """The (key, value) messages of a raw record's articles, and their latest event time."""
    articles = PIPELINE.parse(payload, arrival, dedupe_index=near_duplicate_index)
    messages = [(article["id"].encode(), orjson.dumps(article)) for article in articles]
    return messages, max((event_time(article) for article in articles), default=None)
