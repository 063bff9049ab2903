"""articles.parsed -> articles.enriched (entities and categories added)."""

from __future__ import annotations

import time

import orjson

from .. import metrics
from ..app import app, enriched_topic, parsed_topic
from ..clock import iso_to_epoch
from . import progress
from .common import PIPELINE, decode_json, log, send_dead_letter, send_or_dead_letter


@app.agent(parsed_topic, name="enrich")
async def enrich_agent(stream):
    async for event in stream.events():
        if not progress.is_heartbeat(event):
            await _enrich(event)
        progress.ENRICH.observe(event.message.partition, progress.progress_of(event))
        await progress.before_ack(progress.ENRICH, [event])


async def _enrich(event) -> None:
    """Enrich one parsed article and send it (or its dead letter)."""
    try:
        with metrics.stage_cpu("enrich"):
            enriched = PIPELINE.enrich(decode_json(event.value))
            value = orjson.dumps(enriched)
    except Exception as exc:
        log.exception("enrich failed")
        await send_dead_letter(event, "enrich", f"{type(exc).__name__}: {exc}", exc)
        return
    if not await send_or_dead_letter(enriched_topic, key=enriched["id"].encode(), value=value,
                                     event=event, stage="enrich", headers=progress.headers_of(progress.ENRICH)):
        return
    metrics.ARTICLES.labels("enrich").inc()
    try:
        metrics.LATENCY.observe(max(0.0, time.time() - iso_to_epoch(enriched["ingested_at"])))
    except (KeyError, ValueError):
        pass
