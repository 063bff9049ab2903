"""Every worker follows the whole `entities.kb` topic and applies it to its knowledge base.

This is not a consumer-group agent on purpose: each worker needs every record,
not a share of them, so it reads all partitions from the beginning on start
and then keeps up. Bad records go to the dead-letter topic.
"""

from __future__ import annotations

import asyncio
import logging

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from .. import metrics, topics
from ..app import app, deadletter_topic
from ..deadletter import dead_letter
from ..entities.kb_updates import KbRecordError, apply_record
from .common import PIPELINE

log = logging.getLogger(__name__)


def _bootstrap() -> str:
    return ",".join(f"{url.host}:{url.port or 9092}" for url in app.conf.broker)


@app.task
async def follow_knowledge_base() -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=_bootstrap(), enable_auto_commit=False, request_timeout_ms=15000)
    await consumer.start()
    try:
        partitions = None
        while not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topics.KB)
            if not partitions:
                await asyncio.sleep(1.0)
        assignment = [TopicPartition(topics.KB, p) for p in sorted(partitions)]
        consumer.assign(assignment)
        await consumer.seek_to_beginning(*assignment)
        kb = PIPELINE.extractor.kb
        while True:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for message in records:
                    try:
                        log.info("knowledge base: %s", apply_record(kb, message.key, message.value))
                        metrics.KB_UPDATES.inc()
                    except KbRecordError as exc:
                        record = dead_letter(
                            stage="kb", reason=str(exc), error=exc, original=message.value, key=message.key,
                            topic=message.topic, partition=message.partition, offset=message.offset,
                        )
                        await deadletter_topic.send(key=message.key, value=orjson.dumps(record))
                        metrics.DEADLETTERS.labels("kb").inc()
    finally:
        await consumer.stop()
