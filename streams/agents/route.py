"""articles.enriched -> articles.enriched.<category>, and mentions sent to the partition of their entity.

One agent does both so that each enriched article is delivered and decoded once.
"""

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
        except Exception as exc:
            await send_dead_letter(event, "route", f"{type(exc).__name__}: {exc}", exc)
            continue
        try:
            categories = [category["id"] for category in article.get("categories", ())]
        except Exception as exc:
            await send_dead_letter(event, "route", f"{type(exc).__name__}: {exc}", exc)
        else:
            for category in categories:
                await category_topic(category).send(key=event.key, value=event.value)
                metrics.ROUTED.labels(category).inc()
        try:
            batches = mention_batches(mentions_of(article), settings.partitions)
        except Exception as exc:
            log.exception("mentions failed")
            await send_dead_letter(event, "mentions", f"{type(exc).__name__}: {exc}", exc)
            continue
        for partition, batch in batches:
            await mentions_topic.send(key=event.key, value=orjson.dumps(batch), partition=partition)
