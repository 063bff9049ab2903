"""A producer keeps the metadata of every topic it writes to, not only of those it had to look up.

Measured with aiokafka 0.14 (any broker: it is client logic). The client
refreshes metadata for the set of topics it tracks, or for all topics while
that set is empty. `send` adds a topic to the set only when the cached
metadata lacks it, so a topic found in an all-topics answer is written to but
never tracked. The first send to a topic the cache lacks (a category topic
that new routing rules bring, made on first use) makes the set non-empty; the
refresh that follows returns that topic alone, and the client forgets the
others. A batch already queued for a forgotten topic then has no leader: the
sender asks for metadata again, gets the same answer, and loops (thousands of
metadata requests a second) until something else is sent to that topic. In a
worker this held back an article's copy in its section's topic after a rules
swap, and kept SIGTERM waiting in "Flush producer buffer" until it was killed.

Tracking every topic a send looks up keeps the set equal to the topics the
producer writes to, so no refresh drops one of them.
"""

from __future__ import annotations

from aiokafka.client import AIOKafkaClient

_wait_on_metadata_untracked = AIOKafkaClient._wait_on_metadata


async def _wait_on_tracked_metadata(self: AIOKafkaClient, topic: str):
    # Adding to the set needs no refresh of its own: the cached metadata already has the topic, or
    # the original lookup below fetches it.
    self._topics.add(topic)
    return await _wait_on_metadata_untracked(self, topic)
