"""articles.parsed -> articles.enriched (entities and categories added)."""

from __future__ import annotations

import time

import orjson

from .. import metrics
from ..app import app, enriched_topic, parsed_topic
from ..clock import iso_to_epoch
from ..topology import stage
from . import progress
from .common import PIPELINE, REFUSED, attempt, decode_json, send_or_dead_letter


STAGE = stage("enrich")


@app.agent(parsed_topic, name=STAGE.name)
async def enrich_agent(stream):
    async for event in stream.events():
        if not progress.is_heartbeat(event):
            await _enrich(event)
        progress.ENRICH.observe(event.message.partition, progress.progress_of(event))
        await progress.before_ack(progress.ENRICH, [event])


async def _enrich(event) -> None:
    """Enrich one parsed article and send it (or its dead letter)."""
    enriched = await attempt(event, STAGE.name, _enriched_message, event.value)
    if enriched is REFUSED:
        return
    article_id, value, ingested_at = enriched
    if not await send_or_dead_letter(enriched_topic, key=article_id, value=value, event=event, stage=STAGE.name,
                                     headers=progress.headers_of(progress.ENRICH)):
        return
    metrics.ARTICLES.labels(STAGE.name).inc()
    if ingested_at:
        try:
            metrics.LATENCY.observe(max(0.0, time.time() - iso_to_epoch(ingested_at)))
        except ValueError:
            pass


def _enriched_message(payload: bytes) -> tuple[bytes, bytes, str | None]:
    enriched = PIPELINE.enrich(decode_json(payload))
    return enriched["id"].encode(), orjson.dumps(enriched), enriched.get("ingested_at")
