"""Corrections to the libraries and to the embedded broker, each in its own module, switched on here.

Two kinds, kept apart because they apply in different places:

- **Faust/aiokafka** (`faust_*`, `aiokafka_*`): behaviour of the client
  libraries that breaks the at-least-once promise the window counts rely on, or
  delivery itself, on any broker. Always on.
- **Tansu, the embedded broker** (`tansu_*`): places where it answers
  differently from Apache Kafka. On only when the broker is Tansu: `newsstreams
  run` and the test fixtures say so when they start it (`NEWSSTREAMS_EMBEDDED_BROKER=1`),
  and a Tansu reached through `KAFKA_BROKER` is declared the same way. Against
  Kafka they would only cost (an extra probe consumer on every recovery, empty
  fetches when idle).

Every correction replaces one private attribute of a library class. Before any
is applied, each target is checked: a library upgrade that renamed or removed
one stops the worker at start with a message naming it, rather than running
uncorrected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiokafka.client import AIOKafkaClient
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.producer import ProducerBuffer

from . import aiokafka_tracked_topics, faust_commit_drain, faust_fresh_partitions, tansu_end_offsets, tansu_fetch_wait


@dataclass(frozen=True)
class Fix:
    name: str
    corrects: str
    """`faust`, `aiokafka` (the client libraries, corrected everywhere) or `tansu` (the embedded broker)."""
    target: type
    attribute: str
    replacement: Callable
    why: str

    def applied(self) -> bool:
        return getattr(self.target, self.attribute, None) is self.replacement


FIXES = (
    Fix("drain the producer buffer before committing", "faust", ProducerBuffer, "flush",
        faust_commit_drain._flush_until_empty,
        "Faust's drain gives up after 0.1 s without progress and commits offsets whose table writes are "
        "still buffered: windows published with a fraction of their mentions after a SIGKILL"),
    Fix("read never-committed partitions from their reset point", "faust", AIOKafkaConsumerThread,
        "seek_to_committed", faust_fresh_partitions._seek_to_committed_or_reset,
        "aiokafka skips the seek when nothing was committed, leaving the partition where table "
        "recovery's fetches left it: records before a first commit were never read after a restart"),
    Fix("keep the metadata of every topic a producer writes to", "aiokafka", AIOKafkaClient, "_wait_on_metadata",
        aiokafka_tracked_topics._wait_on_tracked_metadata,
        "the first send to a topic new to the producer made it forget the topics it had not looked up: "
        "a batch queued for one of them waited for a leader forever (an article missing from its section's "
        "topic after a rules swap, SIGTERM stuck in 'Flush producer buffer')"),
    Fix("read changelogs to their fetched high watermark", "tansu", AIOKafkaConsumerThread, "_highwaters",
        tansu_end_offsets._true_end_offsets,
        "Tansu answers ListOffsets with one past the first record of the last batch: table recovery "
        "stopped before the last batch of writes after a rebalance"),
    Fix("short fetch waits", "tansu", AIOKafkaConsumerThread, "_create_worker_consumer",
        tansu_fetch_wait._with_short_fetch_wait,
        "Tansu answers a waiting fetch only when its wait ends, even when records arrive: 229 ms a hop "
        "with Faust's 1.5 s wait, 12 ms with 50 ms"),
)


class FixError(RuntimeError):
    """A library no longer has what a correction replaces."""


def check_targets(fixes=FIXES) -> None:
    """Fail loudly, before anything is patched, if a library changed under a correction."""
    for fix in fixes:
        if not hasattr(fix.target, fix.attribute):
            raise FixError(
                f"cannot apply the correction {fix.name!r}: {fix.target.__module__}.{fix.target.__qualname__}"
                f".{fix.attribute} no longer exists (a library upgrade?); it corrected: {fix.why}"
            )


def apply_fixes(*, embedded_broker: bool) -> list[Fix]:
    """Switch on the library corrections, and Tansu's when the broker is the embedded one; returns those on."""
    check_targets()
    chosen = [fix for fix in FIXES if fix.corrects != "tansu" or embedded_broker]
    for fix in chosen:
        setattr(fix.target, fix.attribute, fix.replacement)
    return chosen
