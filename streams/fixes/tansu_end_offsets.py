"""Table recovery reads each changelog to its true end, whatever ListOffsets says.

Faust recovers a table by reading its changelog up to the end offset from
ListOffsets. The embedded broker answers that with one past the *first*
record of a partition's last batch, not one past its last record (its fetch
responses carry the right high watermark). A worker taking over a partition in
a rebalance then ends recovery before the last batch of table writes and goes
on from counts missing them, while the offsets that made those writes are
already committed: mentions lost for good. Asking a fetch for the high
watermark too, and taking the larger, gives the true end on any broker.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, server_list

from ..kafka_security import client_options
from ..settings import FETCH_MAX_WAIT_MS

log = logging.getLogger(__name__)
PROBE_TIMEOUT = 5.0

_listed_end_offsets = AIOKafkaConsumerThread._highwaters


async def fetched_high_watermarks(bootstrap: list[str], listed: dict) -> dict:
    """The high watermark a fetch reports for each partition, read from just before the listed end."""
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, request_timeout_ms=5000,
                             fetch_max_wait_ms=FETCH_MAX_WAIT_MS, **client_options())
    await asyncio.wait_for(probe.start(), PROBE_TIMEOUT)
    try:
        probe.assign(list(listed))
        for tp, end in listed.items():
            probe.seek(tp, max((end or 0) - 1, 0))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PROBE_TIMEOUT
        while any(probe.highwater(tp) is None for tp in listed) and loop.time() < deadline:
            await probe.getmany(timeout_ms=200, max_records=1)
        return {tp: probe.highwater(tp) for tp in listed}
    finally:
        await probe.stop()


async def _true_end_offsets(self: AIOKafkaConsumerThread, partitions):
    listed = dict(await _listed_end_offsets(self, partitions))
    if not listed:
        return listed
    transport = self.transport
    try:
        fetched = await fetched_high_watermarks(server_list(transport.url, transport.default_port), listed)
    except Exception as exc:  # a broker we cannot probe this way: keep its own answer
        log.warning("could not check end offsets by fetching: %r", exc)
        return listed
    true_end = {}
    for tp, end in listed.items():
        known = [value for value in (end, fetched.get(tp)) if value is not None]
        true_end[tp] = max(known) if known else None
    return true_end
