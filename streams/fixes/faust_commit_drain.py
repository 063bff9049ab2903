"""Offsets are committed only after every buffered table write has been handed to Kafka.

Faust buffers table changelog writes and drains that buffer before committing
offsets, but its drain gives up after 0.1 s without progress, leaving writes in
the buffer while the offsets that produced them are committed. A worker killed
right then loses those window counts for good: the input is never read again.
Under load this showed as windows published with a fraction of their mentions
after a SIGKILL. Draining until the buffer is empty keeps the at-least-once
promise the idempotent window counts rely on.
"""

from __future__ import annotations

from faust.transport.producer import ProducerBuffer

_partial_flush = ProducerBuffer.flush


async def _flush_until_empty(self: ProducerBuffer) -> None:
    await _partial_flush(self)
    while self.size:
        await self.flush_atmost(None)
