"""Follow a whole compacted topic in every worker: the shape of kb_sync and rules_sync.

These are not consumer-group agents on purpose: each worker needs every record,
not a share of them, so it reads all partitions from the beginning on start and
then keeps up. A record the handler refuses goes to the dead-letter topic.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import orjson
from aiokafka import AIOKafkaConsumer

from .. import metrics
from ..app import app, deadletter_topic
from ..deadletter import dead_letter
from ..kafka_io import assign_whole_topic
from ..kafka_security import client_options

log = logging.getLogger(__name__)


def _bootstrap() -> str:
    return ",".join(f"{url.host}:{url.port or 9092}" for url in app.conf.broker)


async def follow_whole_topic(
    topic: str, apply: Callable[[object], str], *, refused: type[Exception], stage: str,
) -> None:
    """Apply every record of `topic` with `apply(message)`; `refused` errors are dead-lettered."""
    consumer = AIOKafkaConsumer(bootstrap_servers=_bootstrap(), enable_auto_commit=False, request_timeout_ms=15000,
                                **client_options())
    await consumer.start()
    try:
        await assign_whole_topic(consumer, topic, timeout=None, poll=1.0)
        while True:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for message in records:
                    try:
                        log.warning("%s: %s", topic, apply(message))
                    except refused as exc:
                        log.error("%s: record at %s@%s refused: %s", topic, message.partition, message.offset, exc)
                        record = dead_letter(
                            stage=stage, reason=str(exc), error=exc, original=message.value, key=message.key,
                            topic=message.topic, partition=message.partition, offset=message.offset,
                        )
                        await deadletter_topic.send(key=message.key, value=orjson.dumps(record))
                        metrics.DEADLETTERS.labels(stage).inc()
    finally:
        await consumer.stop()
