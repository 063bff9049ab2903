"""articles.enriched -> articles.enriched.<category>, and mentions sent to the partition of their entity.

One agent does both so that each enriched article is delivered and decoded once.
Articles are taken a batch at a time: the mentions of the whole batch leave as
one message per owning partition, so the aggregate stage pays one delivery for
many articles. A batch is acknowledged only once all of it is sent: a worker
stopped inside one sends it again, and the counting downstream is idempotent.
"""

from __future__ import annotations

import orjson

from .. import metrics
from ..app import app, category_topic, enriched_topic, mentions_topic, settings
from ..pipeline import mentions_of
from ..topology import stage
from ..trending.mention_batch import mention_batches
from . import progress
from .common import REFUSED, attempt, decode_json

STAGE = stage("route")
"""Its batch (articles that share their mention messages) is declared in the topology."""


@app.agent(enriched_topic, name=STAGE.name)
async def route_agent(stream):
    async for events in stream.noack_take(STAGE.batch, within=STAGE.batch_seconds):
        mentions: list[dict] = []
        for event in events:
            if not progress.is_heartbeat(event):
                mentions += await _route(event)
        with metrics.stage_cpu("route"):
            outgoing = [(partition, orjson.dumps(batch))
                        for partition, batch in mention_batches(mentions, settings.partitions)]
        # What the batch's records say about progress holds once all their mentions are out.
        headers = progress.headers_of(progress.ROUTE)
        for partition, value in outgoing:
            await mentions_topic.send(value=value, partition=partition, headers=headers)
        for event in events:
            progress.ROUTE.observe(event.message.partition, progress.progress_of(event))
        await progress.before_ack(progress.ROUTE, events)
        for event in events:
            await stream.ack(event)


async def _route(event) -> list[dict]:
    """Send one article to its category topics; returns its mention records."""
    article = await attempt(event, STAGE.name, decode_json, event.value)
    if article is REFUSED:
        return []
    categories = await attempt(event, STAGE.name, _category_ids, article)
    if categories is not REFUSED:
        for category in categories:
            await category_topic(category).send(key=event.key, value=event.value)
            metrics.ROUTED.labels(category).inc()
    mentions = await attempt(event, "mentions", mentions_of, article, timed_as=STAGE.name)
    return [] if mentions is REFUSED else mentions


def _category_ids(article: dict) -> list[str]:
    return [category["id"] for category in article.get("categories", ())]
