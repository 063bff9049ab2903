"""Plain aiokafka clients for the command line: no consumer group, no Faust.

Every wait is bounded so that a command pointed at a dead broker fails with a
message instead of hanging.
"""

from __future__ import annotations

import asyncio
import base64
import difflib
from collections.abc import AsyncIterator

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from . import topics
from .kafka_security import client_options
from .text.decode import MAX_PAYLOAD_BYTES
from .trending.progress import HEADER as PROGRESS_HEADER

CONNECT_TIMEOUT = 15.0
MAX_MESSAGE_BYTES = MAX_PAYLOAD_BYTES + 64 * 1024
"""A produce request, and a record batch on `articles.raw`, must fit the largest
article the parse stage takes (5 MiB) with its key and framing; Kafka's own
default (1 MiB) would refuse a large page before the pipeline could say why."""


class BrokerUnavailable(Exception):
    pass


def unavailable(bootstrap: str, exc: BaseException) -> BrokerUnavailable:
    """Why a broker could not be reached, in words: some errors (a timeout) have no message of their own."""
    if isinstance(exc, asyncio.TimeoutError):
        why = f"no answer within {CONNECT_TIMEOUT:g}s (is it a Kafka broker, and is it up?)"
    else:
        why = str(exc).strip() or type(exc).__name__
    return BrokerUnavailable(f"cannot connect to Kafka at {bootstrap}: {why}")


async def start_producer(bootstrap: str, **options) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=15000, **client_options(), **options)
    try:
        await asyncio.wait_for(producer.start(), CONNECT_TIMEOUT)
    except (KafkaError, asyncio.TimeoutError, OSError) as exc:
        await producer.stop()
        raise unavailable(bootstrap, exc) from None
    return producer


async def assign_whole_topic(
    consumer: AIOKafkaConsumer, topic: str, *, timeout: float | None, from_beginning: bool = True, poll: float = 0.3,
) -> list[TopicPartition]:
    """Assign every partition of `topic` to a started consumer, without a group.

    Waits up to `timeout` seconds (None: for ever) for the topic to exist,
    since it may be created by someone else just now.
    """
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    while True:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic)
        if partitions:
            break
        if deadline is not None and loop.time() >= deadline:
            raise BrokerUnavailable(no_such_topic(topic, consumer._client.cluster.topics()))
        await asyncio.sleep(poll)
    assignment = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(assignment)
    if from_beginning:
        await consumer.seek_to_beginning(*assignment)
    else:
        await consumer.seek_to_end(*assignment)
    return assignment


def no_such_topic(topic: str, existing) -> str:
    """Name the topics there are, the closest first, so a misspelt name is fixed at a glance."""
    names = sorted(name for name in existing if not name.startswith("__"))
    close = difflib.get_close_matches(topic, names, n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(repr(name) for name in close)}?" if close else ""
    listed = ", ".join(names) if names else "none yet (is a worker running?)"
    return f"topic {topic!r} does not exist.{hint} Topics on this broker: {listed}"


def expected_soon(topic: str) -> bool:
    """The pipeline's own topics are created by the first worker: worth waiting a moment for."""
    return topic in (topics.RAW, topics.PARSED, topics.ENRICHED, topics.MENTIONS, topics.TRENDING,
                     topics.DEADLETTER, topics.KB, topics.ROUTING_RULES)


async def started_consumer(bootstrap: str, **options) -> AIOKafkaConsumer:
    """A started consumer that joins no group and commits nothing; BrokerUnavailable, with why, if it cannot start."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, request_timeout_ms=15000,
                                **client_options(), **options)
    try:
        await asyncio.wait_for(consumer.start(), CONNECT_TIMEOUT)
    except (KafkaError, asyncio.TimeoutError, OSError) as exc:
        await consumer.stop()
        raise unavailable(bootstrap, exc) from None
    return consumer


async def assigned_consumer(bootstrap: str, topic: str, *, from_beginning: bool, wait_for_topic: float = 10.0) -> AIOKafkaConsumer:
    """A consumer on every partition of `topic`, without joining a group."""
    consumer = await started_consumer(bootstrap)
    try:
        await assign_whole_topic(consumer, topic, timeout=wait_for_topic, from_beginning=from_beginning)
    except BrokerUnavailable:
        await consumer.stop()
        raise
    return consumer


async def read_at(bootstrap: str, topic: str, partition: int, offset: int, *, timeout: float = 10.0) -> bytes | None:
    """The value of one record, if the broker still has it (None: gone with retention, or not there)."""
    consumer = await started_consumer(bootstrap, max_partition_fetch_bytes=MAX_MESSAGE_BYTES)
    try:
        where = TopicPartition(topic, partition)
        consumer.assign([where])
        consumer.seek(where, offset)
        try:
            batch = await consumer.getmany(where, timeout_ms=int(timeout * 1000), max_records=1)
        except KafkaError:
            return None
        for message in batch.get(where, ()):
            if message.offset == offset and message.value:
                return message.value
        return None
    finally:
        await consumer.stop()


async def publish(bootstrap: str, topic: str, *, key: bytes | None, value: bytes | None) -> None:
    producer = await start_producer(bootstrap)
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, key=key, value=value), CONNECT_TIMEOUT)
    finally:
        await producer.stop()


async def publish_many(bootstrap: str, messages: list[tuple[str, bytes | None, bytes | None]]) -> None:
    producer = await start_producer(bootstrap, max_request_size=MAX_MESSAGE_BYTES)
    try:
        futures = [await producer.send(topic, key=key, value=value) for topic, key, value in messages]
        await asyncio.wait_for(asyncio.gather(*futures), CONNECT_TIMEOUT + len(messages) * 0.01)
    finally:
        await producer.stop()


def message_to_json(message) -> bytes:
    """JSON messages print as themselves; anything else is wrapped with its bytes in base64."""
    try:
        value = orjson.loads(message.value) if message.value is not None else None
        return orjson.dumps(value)
    except orjson.JSONDecodeError:
        return orjson.dumps({
            "topic": message.topic, "partition": message.partition, "offset": message.offset,
            "value_b64": base64.b64encode(message.value).decode("ascii"),
        })


def is_progress_heartbeat(message) -> bool:
    """An empty record with only a progress header: pipeline bookkeeping, not an article."""
    return not message.value and any(key == PROGRESS_HEADER for key, _ in (message.headers or ()))


async def consume_batches(
    bootstrap: str, topic: str, *, from_beginning: bool, limit: int | None = None, idle_timeout: float | None = None,
) -> AsyncIterator[list]:
    """The records of `topic`, batch by batch, progress heartbeats left out.

    Ends after `limit` records, or once `idle_timeout` seconds pass without a
    record (None: never); heartbeats do not count. Raises BrokerUnavailable if the broker cannot be
    reached or the topic does not exist (the pipeline's own topics are waited
    for a moment, since the first worker creates them).
    """
    consumer = await assigned_consumer(bootstrap, topic, from_beginning=from_beginning,
                                       wait_for_topic=10.0 if expected_soon(topic) else 0.0)
    loop = asyncio.get_running_loop()
    seen = 0
    # Heartbeats arrive every few seconds while a worker runs: only records count as activity.
    quiet_since = loop.time()
    try:
        while limit is None or seen < limit:
            wait = 3600.0 if idle_timeout is None else max(0.0, quiet_since + idle_timeout - loop.time())
            batch = await consumer.getmany(timeout_ms=int(wait * 1000), max_records=500)
            messages = []
            for message in (message for records in batch.values() for message in records):
                if is_progress_heartbeat(message):
                    continue
                messages.append(message)
                seen += 1
                if limit is not None and seen >= limit:
                    break
            if messages:
                quiet_since = loop.time()
                yield messages
            elif idle_timeout is not None and loop.time() - quiet_since >= idle_timeout:
                break
    finally:
        await consumer.stop()


class PartitionMismatch(ValueError):
    """An existing topic has another number of partitions than the worker's tables need; the message says which."""


async def ensure_topics(bootstrap: str, topics: dict[str, tuple[int, dict]],
                        exact: dict[str, int] | None = None) -> list[str]:
    """Create the topics that are missing, with the given partitions and configs.

    A consumer that subscribes first makes the broker auto-create a topic with
    its own default partition count, which then disagrees with the table
    changelogs; creating everything up front avoids that. Existing topics are
    left as they are, except that those named in `exact` must have exactly
    that many partitions: a table written by a stage has one changelog
    partition per partition of the stage's input, and Faust stops the stage at
    its first write otherwise. Returns the names created.
    """
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000, **client_options())
    try:
        await asyncio.wait_for(admin.start(), CONNECT_TIMEOUT)
    except (KafkaError, asyncio.TimeoutError, OSError) as exc:
        await admin.close()
        raise unavailable(bootstrap, exc) from None
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, num_partitions=partitions, replication_factor=1, topic_configs=config)
            for name, (partitions, config) in topics.items() if name not in existing
        ]
        created = []
        for topic in missing:  # one by one: a topic made meanwhile by someone else is fine
            try:
                await admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass
        if exact:
            found = {}
            for description in await admin.describe_topics(sorted(exact)):
                found[description["topic"]] = len(description.get("partitions") or ())
            wrong = [f"{name} has {found[name]} partitions, the worker's tables need {count}"
                     for name, count in sorted(exact.items()) if found.get(name, count) != count]
            if wrong:
                raise PartitionMismatch(
                    "; ".join(wrong) + ": set NEWSSTREAMS_PARTITIONS to the topics' partition count, "
                    "or delete the topics (and the app's changelogs) to start again")
        return created
    finally:
        await admin.close()
