"""articles.enriched -> articles.enriched.<category>, and mentions sent to the partition of their entity."""

from __future__ import annotations

import orjson

from .. import metrics
from ..app import app, category_topic, enriched_topic, mentions_topic, settings
from ..pipeline import mentions_of
from ..trending.mention_batch import mention_batches
from .common import decode_json, log, send_dead_letter


@app.agent(enriched_topic, name="route")
async def route_agent(stream):
    async for event in stream.events():
        try:
            article = decode_json(event.value)
            categories = [category["id"] for category in article.get("categories", ())]
        except Exception as exc:
            await send_dead_letter(event, "route", f"{type(exc).__name__}: {exc}", exc)
            continue
        for category in categories:
            await category_topic(category).send(key=event.key, value=event.value)
            metrics.ROUTED.labels(category).inc()


@app.agent(enriched_topic, name="mentions")
async def mentions_agent(stream):
    async for event in stream.events():
        try:
            article = decode_json(event.value)
            batches = mention_batches(mentions_of(article), settings.partitions)
        except Exception as exc:
            log.exception("mentions failed")
            await send_dead_letter(event, "mentions", f"{type(exc).__name__}: {exc}", exc)
            continue
        for partition, batch in batches:
            await mentions_topic.send(key=event.key, value=orjson.dumps(batch), partition=partition)
