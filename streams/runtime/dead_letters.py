"""The one path by which a stage's failures leave the stream: `articles.deadletter`, with the original bytes.

Every mover hands its pure work to `DeadLetters.attempt`: whatever the work
cannot do (input that is not an article, or a bug) is dead-lettered with the
stage and the reason, and the worker goes on with the next record.
"""

from __future__ import annotations

import logging
import weakref

import faust.streams
import orjson
from faust.exceptions import ProducerSendError

from .. import metrics
from ..deadletter import dead_letter
from ..pipeline import RejectedArticle

log = logging.getLogger("streams.runtime")

REFUSED = object()
"""What `attempt` returns when the work failed and the input went to the dead letters."""


class DeadLetters:
    def __init__(self, topic, max_message_bytes: int):
        self.topic = topic
        self.max_message_bytes = max_message_bytes

    async def send(self, event, stage: str, reason: str, error: BaseException | None = None) -> None:
        """Keep the original bytes and the reason; the worker goes on with the next event."""
        message = event.message
        original = event.value if isinstance(event.value, bytes) else bytes(str(event.value), "utf-8")
        where = {"topic": message.topic, "partition": message.partition, "offset": message.offset}
        key = event.key if isinstance(event.key, bytes) else None
        record = dead_letter(stage=stage, reason=reason, error=error, original=original, key=key, **where)
        value = orjson.dumps(record)
        if len(value) > self.max_message_bytes:
            # Base64 makes a large original too big for one message; it stays at its offset.
            record = dead_letter(
                stage=stage, error=error, original=None, key=key, **where,
                reason=f"{reason} (original of {len(original):,} bytes not copied: too large for one message)",
            )
            record["original_size"] = len(original)
            value = orjson.dumps(record)
        await self.topic.send(key=key, value=value)
        metrics.DEADLETTERS.labels(stage).inc()
        log.warning("dead-lettered %s:%s@%s at %s: %s", message.topic, message.partition, message.offset, stage,
                    reason)

    async def attempt(self, event, stage: str, work, *args, timed_as: str | None = None, **kwargs):
        """Run a stage's pure work on one input, timed as the stage's CPU; what it cannot do is dead-lettered.

        A `RejectedArticle` (input that is not an article) goes with its own
        reason, anything else (a bug must not stop the stream) with its class
        and message and a logged traceback. Returns the work's result, or
        REFUSED after the input was dead-lettered. `timed_as` charges the CPU
        to another stage than the one named in dead letters.
        """
        try:
            with metrics.stage_cpu(timed_as or stage):
                return work(*args, **kwargs)
        except RejectedArticle as exc:
            await self.send(event, stage, exc.reason, exc)
        except Exception as exc:
            log.exception("%s failed", stage)
            await self.send(event, stage, f"{type(exc).__name__}: {exc}", exc)
        return REFUSED

    async def send_output(self, topic, *, key: bytes, value: bytes, event, stage: str, headers=None,
                          partition: int | None = None) -> bool:
        """Send a stage's output; what the producer refuses (too large) is dead-lettered, not a crash."""
        try:
            await topic.send(key=key, value=value, headers=headers, partition=partition)
        except ProducerSendError as exc:
            await self.send(event, stage, f"output of {len(value):,} bytes could not be sent: {exc}", exc)
            return False
        return True


def write_tables_for(event) -> None:
    """Send the table writes that follow to the changelog partition of `event`.

    Faust takes that partition from the task's current event, which it sets
    only when it hands events over one at a time. Movers that take batches name
    the event themselves. Only the task's own variable is set: the stream's
    `current_event` attribute belongs to the task that fills the batch, and
    changing it there would put the wrong event in the next batch.
    """
    faust.streams._current_event.set(weakref.ref(event))
