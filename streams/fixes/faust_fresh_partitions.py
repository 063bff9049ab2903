"""A partition nobody has committed yet is read from its reset point, always.

While tables recover, the consumer already fetches the stream partitions and
moves their positions past what it buffered; once recovery ends, Faust seeks
every stream partition back to its committed offset. aiokafka skips that seek
when there is no committed offset (or it is 0), so such a partition stays where
the recovery fetches left it, usually at its end. A worker stopped before its
first commit on a topic therefore came back and never read the records it had
not processed: seen after a SIGTERM as windows missing every mention of the
articles before the restart. Seeking those partitions to the reset point the
app asks for (`consumer_auto_offset_reset`) gives Kafka's usual meaning back.
"""

from __future__ import annotations

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

_seek_committed_only = AIOKafkaConsumerThread.seek_to_committed


def partitions_to_reset(committed: dict) -> tuple[list, list]:
    """(partitions with no committed offset, partitions committed at offset 0)."""
    never = [tp for tp, offset in committed.items() if offset is None or offset < 0]
    at_zero = [tp for tp, offset in committed.items() if offset == 0]
    return never, at_zero


async def _seek_to_committed_or_reset(self: AIOKafkaConsumerThread):
    committed = await _seek_committed_only(self)
    never, at_zero = partitions_to_reset(committed)
    consumer = self._ensure_consumer()
    if never:
        if self.app.conf.consumer_auto_offset_reset == "latest":
            await self.call_thread(consumer.seek_to_end, *never)
        else:
            await self.call_thread(consumer.seek_to_beginning, *never)
    for tp in at_zero:
        self.seek(tp, 0)
    return committed
