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
        partition, reports = event.message.partition, progress.progress_of(event)
        if progress.is_heartbeat(event):
            progress.ENRICH.observe(partition, reports)
            continue
        try:
            with metrics.stage_cpu("enrich"):
                enriched = PIPELINE.enrich(decode_json(event.value))
                value = orjson.dumps(enriched)
        except Exception as exc:
            log.exception("enrich failed")
            await send_dead_letter(event, "enrich", f"{type(exc).__name__}: {exc}", exc)
            progress.ENRICH.observe(partition, reports)
            continue
        sent = await send_or_dead_letter(enriched_topic, key=enriched["id"].encode(), value=value,
                                         event=event, stage="enrich", headers=progress.headers_of(progress.ENRICH))
        progress.ENRICH.observe(partition, reports)
        if not sent:
            continue
        metrics.ARTICLES.labels("enrich").inc()
        try:
            metrics.LATENCY.observe(max(0.0, time.time() - iso_to_epoch(enriched["ingested_at"])))
        except (KeyError, ValueError):
            pass
