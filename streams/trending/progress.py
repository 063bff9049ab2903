"""Event-time progress that follows the slowest input, carried from stage to stage.

Windows may close only when every input that can still feed them has moved
past their end. Stream time taken from the largest event time one partition has
seen follows the *fastest* input instead: mentions reach an `entities.mentions`
partition from every `articles.raw` partition, through two re-keyings, and the
raw partitions are parsed and enriched at different speeds. During a backlog
the fastest one closed windows the others were still feeding, and 70 % of the
mentions of a time-ordered replay were dropped as late.

The rule, as in Flink's watermarks (the minimum over input channels):

- A *channel* is one partition of a stage's input topic (`articles.raw/3`).
- A source channel's watermark is the largest event time parsed from it.
- Every record a stage sends carries, in the `newsstreams-progress` header, the
  progress of the input partitions its content came from; a stage also sends a
  heartbeat (a record with an empty value and only that header) to every
  partition of its output topic when an input's progress changed, so a
  partition that gets no data still learns how far each input has come.
  Because a partition keeps the order of what one producer sent, progress read
  from a record holds for every record sent before it.
- A stage's progress on one of its input partitions is the minimum over the
  upstream channels heard on it; none until every expected channel has been
  heard (a channel nobody reports for, say an unassigned partition, holds it).
- A source channel is *idle* when it has been caught up (no lag: everything
  up to the partition's end offset processed) for `idle_after` seconds. Idle
  channels are left out of the minimum, so an empty or finished partition
  does not hold windows open for ever; a backlog is lag, so it never counts as
  idle. When every channel is idle, everything written has been processed and
  the largest watermark among them is safe. A channel that gets data again is
  active from that record on.
- Watermarks only grow: an upstream worker that restarts and reports less
  (reprocessing from its last commit) changes nothing.

Everything here is pure: the agents hand in what they read and send what
comes out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import orjson

HEADER = "newsstreams-progress"
"""Record header with the progress of the channels a record's content came from."""


@dataclass(frozen=True, slots=True)
class Progress:
    """How far one channel has come: records after this one have event times of at least
    about `watermark` (within the grace period); `idle` means nothing is pending on it."""

    watermark: float | None = None
    idle: bool = False

    def merge(self, newer: "Progress") -> "Progress":
        """The later report, with the watermark never going back."""
        if self.watermark is None:
            return newer
        if newer.watermark is None or newer.watermark < self.watermark:
            return Progress(self.watermark, newer.idle)
        return newer


def channel_name(topic: str, partition: int) -> str:
    return f"{topic}/{partition}"


def encode(progress: Mapping[str, Progress]) -> bytes:
    """Header value: {channel: [watermark or null, 1 if idle else 0]}."""
    return orjson.dumps({channel: [p.watermark, int(p.idle)] for channel, p in progress.items()})


def decode(value: bytes | None) -> dict[str, Progress]:
    """The channels of a header value; a malformed header reports nothing rather than failing the record."""
    if not value:
        return {}
    try:
        raw = orjson.loads(value)
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(raw, dict):
        return {}
    found = {}
    for channel, item in raw.items():
        if not (isinstance(channel, str) and isinstance(item, list) and len(item) == 2):
            continue
        watermark, idle = item
        if watermark is not None and (not isinstance(watermark, (int, float)) or isinstance(watermark, bool)):
            continue
        found[channel] = Progress(None if watermark is None else float(watermark), bool(idle))
    return found


def header_progress(headers) -> dict[str, Progress]:
    """The progress in a record's headers (a Faust event's dict, or aiokafka's list of pairs)."""
    if not headers:
        return {}
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for key, value in pairs:
        if key == HEADER:
            return decode(value)
    return {}


class ChannelMerge:
    """The progress of one input partition of a stage: the minimum over its upstream channels."""

    __slots__ = ("expected", "channels")

    def __init__(self, expected: int, channels: Mapping[str, Progress] | None = None):
        self.expected = expected
        self.channels: dict[str, Progress] = dict(channels or {})

    def observe(self, reports: Mapping[str, Progress]) -> None:
        for channel, progress in reports.items():
            known = self.channels.get(channel)
            self.channels[channel] = progress if known is None else known.merge(progress)

    def combined(self) -> Progress:
        """None until every expected channel has been heard; idle channels are left out."""
        if len(self.channels) < self.expected:
            return Progress()
        active = [p for p in self.channels.values() if not p.idle]
        if not active:
            marks = [p.watermark for p in self.channels.values() if p.watermark is not None]
            return Progress(max(marks) if marks else None, idle=True)
        if any(p.watermark is None for p in active):
            return Progress()
        return Progress(min(p.watermark for p in active))

    def to_dict(self) -> dict:
        return {"expected": self.expected, "channels": {c: [p.watermark, int(p.idle)] for c, p in self.channels.items()}}

    @classmethod
    def from_dict(cls, data: Mapping | None, expected: int) -> "ChannelMerge":
        if not data:
            return cls(expected)
        return cls(expected, decode(orjson.dumps(data.get("channels") or {})))


class PartitionWatermark:
    """The clock one `entities.mentions` partition closes its windows on.

    It keeps the progress of every upstream channel heard on the partition
    (a ChannelMerge) and the watermark last advanced to: the merged progress
    less the grace period, never going back. Both are stored with the counts
    (see `windows.progress_entry`), so a recovered partition goes on from the
    watermark its recovered counts stand for.
    """

    __slots__ = ("merge", "grace", "previous")

    def __init__(self, merge: ChannelMerge, grace: float, previous: float | None):
        self.merge = merge
        self.grace = grace
        self.previous = previous

    @classmethod
    def from_entry(cls, entry: Mapping | None, expected: int, grace: float) -> "PartitionWatermark":
        entry = entry or {}
        return cls(ChannelMerge.from_dict(entry.get("progress"), expected), grace, entry.get("watermark"))

    def observe(self, reports: Mapping[str, Progress]) -> None:
        self.merge.observe(reports)

    def advanced(self) -> float | None:
        """The watermark the partition may move to now (the previous one if nothing allows more)."""
        combined = self.merge.combined().watermark
        if combined is None:
            return self.previous
        candidate = combined - self.grace
        return candidate if self.previous is None or candidate > self.previous else self.previous


class SourceClock:
    """Progress of one source partition: the largest event time parsed, and whether it is idle.

    `caught_up(now, lag)` is told, from time to time, how many records wait on
    the partition; it turns idle after `idle_after` seconds without any lag.
    A processed record makes it active again at once.
    """

    __slots__ = ("idle_after", "high", "caught_up_since")

    def __init__(self, idle_after: float):
        self.idle_after = idle_after
        self.high: float | None = None
        self.caught_up_since: float | None = None

    def saw(self, event_ts: float) -> None:
        if self.high is None or event_ts > self.high:
            self.high = event_ts
        self.caught_up_since = None

    def lag(self, now: float, lag: int | None) -> None:
        """Record the partition's lag as seen at `now` (monotonic seconds); None means unknown."""
        if lag is None or lag > 0:
            self.caught_up_since = None
        elif self.caught_up_since is None:
            self.caught_up_since = now

    def progress(self, now: float) -> Progress:
        idle = self.caught_up_since is not None and now - self.caught_up_since >= self.idle_after
        return Progress(self.high, idle)


class Forwarder:
    """When a stage tells every output partition how far each of its input partitions has come.

    A data record already carries the stage's progress to the partition it
    goes to, so heartbeats are for what data does not reach: a progress is
    broadcast once it has stopped changing for `settle` seconds (the tail of a
    backlog, a quiet partition), and every `refresh` seconds whatever it does
    (partitions that get no data during a backlog, a restarted downstream
    worker). During a backlog that is one heartbeat per output partition every
    `refresh` seconds, not one a second: on a broker that writes each request
    to object storage, heartbeats every second slowed a backlog by half.
    """

    __slots__ = ("settle", "refresh", "_sent", "_changed")

    def __init__(self, refresh: float, settle: float = 1.0):
        self.settle = settle
        self.refresh = refresh
        self._sent: dict[str, tuple[Progress, float]] = {}
        self._changed: dict[str, tuple[Progress, float]] = {}

    def due(self, current: Mapping[str, Progress], now: float) -> dict[str, Progress]:
        due = {}
        for channel, progress in current.items():
            if progress.watermark is None and not progress.idle:
                continue  # nothing known yet: saying so would tell downstream nothing
            seen = self._changed.get(channel)
            if seen is None or seen[0] != progress:
                self._changed[channel] = seen = (progress, now)
            last = self._sent.get(channel)
            if last is None:
                due[channel] = progress
            elif now - last[1] >= self.refresh:
                due[channel] = progress
            elif last[0] != progress and now - seen[1] >= self.settle:
                due[channel] = progress
        return due

    def unsent(self, current: Mapping[str, Progress]) -> dict[str, Progress]:
        """Every channel whose progress differs from what was last broadcast, settled or not."""
        return {
            channel: progress for channel, progress in current.items()
            if (progress.watermark is not None or progress.idle)
            and (channel not in self._sent or self._sent[channel][0] != progress)
        }

    def sent(self, reports: Mapping[str, Progress], now: float) -> None:
        for channel, progress in reports.items():
            self._sent[channel] = (progress, now)

    def forget(self, channels: Iterable[str]) -> None:
        for channel in channels:
            self._sent.pop(channel, None)
            self._changed.pop(channel, None)


class StageProgress:
    """One stage's progress on each input partition it processes, and what it owes downstream.

    For the source stage (`upstream=None`) each input partition has a
    SourceClock fed with the event times it parses and the lag it has; for the
    others, a ChannelMerge over the upstream topic's `upstream` partitions, fed
    with the headers of the records (data and heartbeats) it reads. Agents
    apply what a record says only after the record's own output is sent, so
    progress never overtakes the data it vouches for.
    """

    def __init__(self, topic: str, *, upstream: int | None, idle_after: float = 30.0, refresh: float = 10.0):
        self.topic = topic
        self.upstream = upstream
        self.idle_after = idle_after
        self.clocks: dict[int, SourceClock] = {}
        self.merges: dict[int, ChannelMerge] = {}
        self.forwarder = Forwarder(refresh)

    def saw(self, partition: int, event_ts: float | None) -> None:
        """Source stage: a record of `partition` was processed (event_ts None: it gave no article)."""
        clock = self.clocks.get(partition)
        if clock is None:
            clock = self.clocks[partition] = SourceClock(self.idle_after)
        if event_ts is None:
            clock.caught_up_since = None
        else:
            clock.saw(event_ts)

    def lag(self, partition: int, lag: int | None, now: float) -> None:
        """Source stage: how many records wait on `partition` (None: not known yet)."""
        clock = self.clocks.get(partition)
        if clock is None:
            clock = self.clocks[partition] = SourceClock(self.idle_after)
        clock.lag(now, lag)

    def observe(self, partition: int, reports: Mapping[str, Progress]) -> None:
        """Other stages: progress read from a record of input `partition`."""
        if not reports:
            return
        merge = self.merges.get(partition)
        if merge is None:
            merge = self.merges[partition] = ChannelMerge(self.upstream or 0)
        merge.observe(reports)

    def current(self, now: float) -> dict[str, Progress]:
        """This stage's progress on every input partition it tracks, named as channels of its topic."""
        if self.upstream is None:
            return {channel_name(self.topic, p): clock.progress(now) for p, clock in self.clocks.items()}
        return {channel_name(self.topic, p): merge.combined() for p, merge in self.merges.items()}

    def known(self, now: float) -> dict[str, Progress]:
        """What a data record may carry: the channels with something to say."""
        return {c: p for c, p in self.current(now).items() if p.watermark is not None or p.idle}

    def heartbeat(self, now: float) -> dict[str, Progress]:
        """Channels to broadcast now; call `sent` once the heartbeats are out."""
        return self.forwarder.due(self.current(now), now)

    def unsent(self, now: float) -> dict[str, Progress]:
        """Channels to broadcast before a caught-up input is acknowledged (see `Forwarder.unsent`).

        A stage that has read everything on a partition owes downstream the
        progress its last records carried: if it acknowledged them first and
        was then killed, the restarted stage would have nothing left to read
        that says it, and windows downstream would wait for the next article.
        """
        return self.forwarder.unsent(self.current(now))

    def sent(self, reports: Mapping[str, Progress], now: float) -> None:
        self.forwarder.sent(reports, now)

    def expect(self, upstream: int) -> None:
        """The upstream topic has this many partitions (as the broker says): every one must report."""
        self.upstream = upstream
        for merge in self.merges.values():
            merge.expected = upstream

    def keep_only(self, partitions: Iterable[int]) -> None:
        """Forget input partitions this worker no longer processes: their new owner reports them."""
        keep = set(partitions)
        for table in (self.clocks, self.merges):
            for partition in [p for p in table if p not in keep]:
                del table[partition]
                self.forwarder.forget([channel_name(self.topic, partition)])
