"""Event-time progress through the stages: headers on what they send, heartbeats when they send nothing.

The rule and its state machines are in `streams/trending/progress.py`. Here:
one StageProgress per stage that forwards progress (parse, enrich, route),
the header a stage's records carry, and a timer that measures the lag of the
`articles.raw` partitions this worker parses (how a source turns idle) and
sends each stage's changed progress to every partition of its output topic.
Heartbeats go to the pipeline's own topics only (`articles.parsed`,
`articles.enriched`, `entities.mentions`), never to the category topics.
"""

from __future__ import annotations

import asyncio
import logging
import time

from faust.types import TP

from .. import topics
from ..trending.progress import HEADER, StageProgress, encode, header_progress

log = logging.getLogger("streams.runtime")

HEARTBEAT_SECONDS = 1.0
"""How often changed progress is broadcast: the most a quiet partition's progress lags behind."""
HEARTBEAT_TIMEOUT = 10.0


def is_heartbeat(event) -> bool:
    """A record with no value and a progress header carries no article, only progress."""
    return not event.value and bool(header_progress(event.headers))


def progress_of(event):
    return header_progress(event.headers)


def headers_of(stage: StageProgress) -> dict | None:
    """The progress header for a record a stage sends now (None while it knows nothing)."""
    known = stage.known(time.monotonic())
    return {HEADER: encode(known)} if known else None


class Progress:
    """The progress of the stages that forward it, and the heartbeats that carry it when records do not."""

    def __init__(self, runtime):
        self.runtime = runtime
        settings = runtime.settings
        self.partitions = settings.partitions
        self.parse = StageProgress(topics.RAW, upstream=None, idle_after=settings.idle_after)
        self.enrich = StageProgress(topics.PARSED, upstream=settings.partitions)
        self.route = StageProgress(topics.ENRICHED, upstream=settings.partitions)
        self.outputs = {self.parse: topics.PARSED, self.enrich: topics.ENRICHED, self.route: topics.MENTIONS}
        """Where each stage's heartbeats go: its own output topic."""
        self._next_raw_offset: dict[int, int] = {}
        """Per `articles.raw` partition: the offset after the last record parse finished."""

    @property
    def consumer(self):
        return self.runtime.app.consumer

    def parsed(self, partition: int, offset: int, event_ts: float | None) -> None:
        """Parse finished a raw record, its articles sent: its event time now counts as progress."""
        self._next_raw_offset[partition] = offset + 1
        self.parse.saw(partition, event_ts)

    async def _raw_lag(self, tp) -> int | None:
        """Records waiting on a raw partition; None while its end offset is not known yet."""
        try:
            highwater = self.consumer.highwater(tp)
        except Exception:  # not assigned (any more) or not fetched from yet
            return None
        if highwater is None:
            return None
        done = self._next_raw_offset.get(tp.partition)
        if done is None:
            # Nothing parsed since the partition was assigned: where the consumer
            # stands is where parsing starts; idleness then waits `idle_after`
            # for anything fetched but not yet handed to the agent.
            done = await self.consumer.position(tp)
            if done is None:
                return None
        return max(0, highwater - done)

    def partitions_of(self, topic: str) -> int:
        """Partitions of a topic the worker reads, as the broker reports them (the setting until it has)."""
        try:
            return self.consumer.topic_partitions(topic) or self.partitions
        except Exception:  # consumer not started yet
            return self.partitions

    def attach_timer(self) -> None:
        self.runtime.app.timer(interval=HEARTBEAT_SECONDS, name="progress-heartbeats")(self.send_heartbeats)

    async def send_heartbeats(self) -> None:
        """Never raises nor hangs: a timer that fails stops the worker, one that hangs (a send or a
        position asked of a broker that went away) stops every later heartbeat, and the windows
        they would close stay open. A heartbeat missed is sent on a later tick."""
        try:
            await asyncio.wait_for(self._measure_and_broadcast(), HEARTBEAT_TIMEOUT)
        except asyncio.TimeoutError:
            log.warning("progress heartbeat took more than %ss; trying again on the next tick", HEARTBEAT_TIMEOUT)
        except Exception:
            log.exception("progress heartbeat failed")

    async def _measure_and_broadcast(self) -> None:
        self.enrich.expect(self.partitions_of(topics.RAW))
        self.route.expect(self.partitions_of(topics.PARSED))
        by_topic: dict[str, list] = {}
        for tp in self.consumer.assignment():
            by_topic.setdefault(tp.topic, []).append(tp)
        now = time.monotonic()
        raw = by_topic.get(topics.RAW, [])
        for tp in raw:
            self.parse.lag(tp.partition, await self._raw_lag(tp), now)
        parsing = {tp.partition for tp in raw}
        for partition in [p for p in self._next_raw_offset if p not in parsing]:
            del self._next_raw_offset[partition]
        for stage in self.outputs:
            stage.keep_only(tp.partition for tp in by_topic.get(stage.topic, []))
            await self._broadcast(stage, stage.heartbeat(now), now)

    async def _broadcast(self, stage: StageProgress, due: dict, now: float) -> bool:
        """Send `due` to every partition of the stage's output topic; False if it could not be sent."""
        if not due:
            return True
        output = self.runtime.topic(self.outputs[stage])
        header = {HEADER: encode(due)}
        try:
            for partition in range(self.partitions):
                await output.send(value=b"", partition=partition, headers=header)
        except Exception as exc:  # a heartbeat not sent is sent again on the next tick
            log.warning("progress heartbeat to %s not sent: %s", output.get_topic_name(), exc)
            return False
        stage.sent(due, now)
        return True

    def caught_up(self, topic: str, partition: int, offset: int) -> bool:
        """Whether the record at `offset` is the last one the consumer knows of on its partition."""
        try:
            highwater = self.consumer.highwater(TP(topic, partition))
        except Exception:  # not assigned (any more): its new owner reads it again
            return False
        return highwater is not None and offset + 1 >= highwater

    async def before_ack(self, stage: StageProgress, events) -> None:
        """Broadcast the stage's new progress when it has read all there is on an input partition.

        Called after the events' outputs are sent and their progress observed,
        before they are acknowledged. During a backlog later records carry the
        progress on (and the timer refreshes it); at the end of one, the last
        records' progress would otherwise reach the partitions they sent nothing
        to only on the next tick, and not at all if the worker were killed after
        committing them. The producer is flushed before offsets are committed,
        so what is sent here is delivered before the input is.
        """
        if not any(self.caught_up(stage.topic, e.message.partition, e.message.offset) for e in events):
            return
        now = time.monotonic()
        await self._broadcast(stage, stage.unsent(now), now)
