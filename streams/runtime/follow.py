"""Follow a whole compacted topic in every worker: how the kb and rules stages read.

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
from ..deadletter import dead_letter
from ..kafka_io import assign_whole_topic
from ..kafka_security import KafkaSecurity

log = logging.getLogger(__name__)


async def follow_whole_topic(
    runtime, topic: str, apply: Callable[[object], str], *, refused: type[Exception], stage: str,
) -> None:
    """Apply every record of `topic` with `apply(message)`; `refused` errors are dead-lettered."""
    bootstrap = ",".join(f"{url.host}:{url.port or 9092}" for url in runtime.app.conf.broker)
    security = KafkaSecurity.from_env(dict(runtime.settings.kafka_security))
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, request_timeout_ms=15000,
                                **security.client_options())
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
                        await runtime.dead_letters.topic.send(key=message.key, value=orjson.dumps(record))
                        metrics.DEADLETTERS.labels(stage).inc()
    finally:
        await consumer.stop()


def apply_rules_message(watcher, message) -> str:
    """Apply one `routing.rules` record (a whole rules document, key `rules`) to the watcher.

    A document that does not validate raises RulesError: it is dead-lettered
    (stage `rules`) and the rules in force stay. File edits are still picked up
    by the watcher; whichever change is newest wins (see `RulesWatcher`).
    """
    source = f"{message.topic}[{message.partition}]@{message.offset}"
    timestamp = message.timestamp / 1000.0 if message.timestamp and message.timestamp > 0 else None
    return watcher.apply_document(message.value, source=source, timestamp=timestamp)
