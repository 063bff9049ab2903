"""What every agent shares: the pipeline instance and the dead-letter path."""

from __future__ import annotations

import logging

import orjson

from .. import metrics
from ..app import deadletter_topic, settings
from ..deadletter import dead_letter
from ..pipeline import Pipeline

log = logging.getLogger("streams.agents")

PIPELINE = Pipeline(rules_path=settings.routing_rules)


async def send_dead_letter(event, stage: str, reason: str, error: BaseException | None = None) -> None:
    """Keep the original bytes and the reason; the worker goes on with the next event."""
    message = event.message
    record = dead_letter(
        stage=stage,
        reason=reason,
        error=error,
        original=event.value if isinstance(event.value, bytes) else bytes(str(event.value), "utf-8"),
        key=event.key if isinstance(event.key, bytes) else None,
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
    )
    await deadletter_topic.send(key=event.key, value=orjson.dumps(record))
    metrics.DEADLETTERS.labels(stage).inc()
    log.warning("dead-lettered %s:%s@%s at %s: %s", message.topic, message.partition, message.offset, stage, reason)


def decode_json(payload: bytes) -> dict:
    value = orjson.loads(payload)
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    return value
