"""Run a stage's mover in the test process: records in, what it sent, dead-lettered and acknowledged out.

The runtime is the real one (`build_app`), with its topics replaced by
recorders and its tables by dicts, so a mover's logic (which records reach the
pure work, what is sent where with which headers, what is dead-lettered under
which stage, what is acknowledged) is tested without a broker or a worker
process. What only Kafka can show (delivery, commits, rebalances, restarts)
stays in the broker tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import SimpleNamespace

from streams import topics, topology
from streams.pipeline import Pipeline
from streams.runtime import build_app
from streams.runtime.movers import MOVERS
from streams.settings import Settings
from streams.stories import StoryBook
from streams.text.dedupe import SketchIndex


@dataclass
class Sent:
    key: bytes | None
    value: bytes
    partition: int | None
    headers: dict | None


@dataclass
class RecordingTopic:
    name: str
    sent: list[Sent] = field(default_factory=list)

    async def send(self, key=None, value=None, partition=None, headers=None):
        self.sent.append(Sent(key, value, partition, headers))

    def get_topic_name(self) -> str:
        return self.name

    async def maybe_declare(self) -> None:
        return None


class RecordedStream:
    """The parts of a Faust stream the movers use: `events()`, `noack_take()` and `ack()`."""

    def __init__(self, events: list):
        self._events = events
        self.acked: list = []

    async def events(self):
        for event in self._events:
            yield event

    async def noack_take(self, max_: int, within: float):
        for start in range(0, len(self._events), max_):
            yield self._events[start:start + max_]

    async def ack(self, event) -> None:
        self.acked.append(event)


@dataclass(eq=False)
class Record:
    """A consumed record as a mover sees it (`event.message`, `.key`, `.value`, `.headers`)."""

    message: SimpleNamespace
    key: bytes | None
    value: bytes
    headers: dict


def record(topic: str, value: bytes, *, partition: int = 0, offset: int = 0, key: bytes | None = None,
           headers: dict | None = None, timestamp: float | None = None) -> Record:
    message = SimpleNamespace(topic=topic, partition=partition, offset=offset, timestamp=timestamp)
    return Record(message, key, value, headers or {})


class InProcess:
    """A worker's runtime whose stages can be run one at a time over given records."""

    def __init__(self, settings: Settings | None = None, pipeline: Pipeline | None = None):
        self.runtime = build_app(settings or Settings(partitions=2), pipeline=pipeline)
        self.topics: dict[str, RecordingTopic] = {}
        self.runtime.topic = self.topic
        self.runtime.dead_letters.topic = self.topic(topics.DEADLETTER)
        self.runtime.window_counts = {}
        self.runtime.stories = {}
        self.runtime.story_book = StoryBook(self.runtime.stories, quiet=self.runtime.settings.story_quiet)
        self.runtime.near_duplicate_index = SketchIndex()

    def topic(self, name: str) -> RecordingTopic:
        return self.topics.setdefault(name, RecordingTopic(name))

    def sent(self, name: str) -> list[Sent]:
        return self.topic(name).sent

    async def run(self, stage_name: str, events: list, **changes) -> RecordedStream:
        """Run the stage's mover over `events` (the stage's declaration changed by `changes`, e.g. batch=2)."""
        stage = replace(topology.stage(stage_name), **changes)
        stream = RecordedStream(events)
        await MOVERS[stage_name](self.runtime, stage)(stream)
        return stream
