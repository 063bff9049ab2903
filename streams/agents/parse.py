"""articles.raw -> articles.parsed (one message per article found in a page)."""

from __future__ import annotations

from datetime import datetime, timezone

import orjson

from .. import metrics
from ..app import app, parsed_topic, raw_topic
from ..pipeline import RejectedArticle
from .common import PIPELINE, log, send_dead_letter


def _arrival_time(event) -> str:
    """When the raw message reached the broker: the article's ingestion time."""
    timestamp = event.message.timestamp
    moment = datetime.fromtimestamp(timestamp, timezone.utc) if timestamp else datetime.now(timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@app.agent(raw_topic, name="parse")
async def parse_agent(stream):
    async for event in stream.events():
        try:
            articles = PIPELINE.parse(event.value, _arrival_time(event))
        except RejectedArticle as exc:
            await send_dead_letter(event, "parse", exc.reason, exc)
            continue
        except Exception as exc:  # a bug must not stop the stream: keep the input
            log.exception("parse failed")
            await send_dead_letter(event, "parse", f"unexpected error: {exc}", exc)
            continue
        for article in articles:
            await parsed_topic.send(key=article["id"].encode(), value=orjson.dumps(article))
            metrics.ARTICLES.labels("parse").inc()
