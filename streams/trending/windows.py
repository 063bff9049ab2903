"""Event-time window counting over any mutable mapping.

The worker hands a Faust table in as the mapping; tests hand a dict. Keeping the
arithmetic here, free of Kafka, is what lets a brute-force recount check it.

State layout: mentions are counted once, into a pane (the largest slice of time
that every window is made of, 5 minutes with the default windows), keyed by
pane start and entity. An open window is the sum of its panes, so a mention
costs one table write however many windows contain it, and no entry holds more
article ids than one entity gets in one pane. When a window closes, its counts
are kept as a small closed entry (no article ids) that later queries and
baselines read. Counting is idempotent per article: an article id already in
the pane adds nothing, so a redelivered message cannot count twice.

Time is the partition's watermark (see `progress.py`: the slowest input's
event time, less the grace period). A window is closed once its end is at or
before the watermark, and its first result is published then. It still takes
late mentions for its allowed lateness: a late mention goes into its pane as
usual and the window is published again with the next `revision`. Panes are
kept until every window over them is past its lateness, which also keeps a
redelivered mention recognisable as a repeat. Beyond the lateness a mention is
too late and reported, not counted. Closed windows are kept for their
retention (`keep`) in event time, and then dropped.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import datetime, timezone

from .score import BASELINE_WINDOWS, baseline_and_score

TRENDING_SCHEMA = "trending_window/2"
PANE = "pane"
DAY = 86400
MAX_DEFAULT_LATENESS = 6 * 3600
"""A window waits for late articles as long as it is, but never more than this by default."""


def default_lateness(size: int) -> int:
    return min(size, MAX_DEFAULT_LATENESS)


def default_keep(step: int) -> int:
    """Closed windows are kept for 168 of their steps (a week of hours), at least a day, at most 30 days.

    Memory grows with windows kept per entity: a hopping window (step < size)
    makes one window per step, so retention follows the step, not the size.
    """
    return max(DAY, min(168 * step, 30 * DAY))


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """A tumbling window (`step == size`) or a hopping one (`step < size`).

    `lateness`: how long after its end (in event time) a closed window still
    takes late mentions and is published again; `keep`: how long after its end
    a closed window stays queryable. Neither is part of a window's identity.
    """

    size: int
    step: int = 0
    lateness: int | None = field(default=None, compare=False)
    keep: int | None = field(default=None, compare=False)
    name: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.size <= 0:
            raise ValueError("window size must be positive")
        if self.step == 0:
            object.__setattr__(self, "step", self.size)
        if not 0 < self.step <= self.size:
            raise ValueError("window step must be in (0, size]")
        if self.lateness is None:
            object.__setattr__(self, "lateness", default_lateness(self.size))
        if self.keep is None:
            object.__setattr__(self, "keep", default_keep(self.step))
        if self.lateness < 0 or self.keep <= 0:
            raise ValueError("lateness must be at least 0 and retention positive")
        base = format_duration(self.size)
        object.__setattr__(self, "name", base if self.step == self.size else f"{base}/{format_duration(self.step)}")

    def last_start(self, ts: float) -> int:
        """Start of the latest window of this spec that contains `ts`."""
        return int(ts // self.step) * self.step

    def starts(self, ts: float) -> list[int]:
        """Start times of every window of this spec that contains `ts`."""
        last = self.last_start(ts)
        first = last - self.size + self.step
        return [start for start in range(first, last + 1, self.step) if start <= ts < start + self.size]

    def retained_after(self, watermark: float) -> float:
        """Closed windows ending at or before this time have been dropped."""
        return watermark - self.keep


def format_duration(seconds: int) -> str:
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % length == 0:
            return f"{seconds // length}{unit}"
    return f"{seconds}s"


@lru_cache(maxsize=16)
def pane_size(specs: tuple[WindowSpec, ...]) -> int:
    """The longest time slice that tiles every window and every step exactly (once per set of windows)."""
    return math.gcd(*(length for spec in specs for length in (spec.size, spec.step)))


PROGRESS = "progress"


def progress_key(partition: int) -> str:
    """Where a partition's upstream progress and watermark are kept: in the counts' own table.

    One changelog partition keeps the order of its records, so a watermark
    recovered after a crash never runs ahead of the counts and closed windows
    it stands for; in a table of its own it could.
    """
    return f"{PROGRESS}|{partition}"


def progress_entry(partition: int, progress: dict, watermark: float | None) -> dict:
    return {"window": PROGRESS, "entity_id": "", "partition": partition, "start": 0,
            "progress": progress, "watermark": watermark}


def window_key(spec: WindowSpec, start: int, entity_id: str) -> str:
    return f"{spec.name}|{start}|{entity_id}"


def pane_key(start: int, entity_id: str) -> str:
    return f"{PANE}|{start}|{entity_id}"


@dataclass(frozen=True, slots=True)
class CountResult:
    counted: list[str]
    """Windows the mention was added to (open ones and closed ones within their lateness)."""
    late: list[str]
    """Windows past their lateness: the mention is not in them."""
    repeated: list[str]
    """Windows that already had this article: nothing added."""
    revised: list[str] = field(default_factory=list)
    """Closed windows the mention changed: they are published again."""


def count_mention(
    store: MutableMapping[str, dict],
    mention: dict,
    specs: Iterable[WindowSpec],
    watermark: float | None,
    partition: int = 0,
    index: "WindowIndex | None" = None,
) -> CountResult:
    """Add one mention record to every window it falls in (through its pane).

    A window whose end is at or before the watermark is closed: within its
    lateness the mention still counts and the window is named in `revised`;
    after it, the mention is late and reported, not counted. The keys
    returned name windows.
    """
    specs = tuple(specs)
    ts = float(mention["event_ts"])
    entity_id = mention["entity_id"]
    size = pane_size(specs)
    start = int(ts // size) * size
    key = pane_key(start, entity_id)
    pane = store.get(key)
    article = mention["article_id"]
    windows = [(spec, window_start) for spec in specs for window_start in spec.starts(ts)]
    if pane is not None and article in pane["articles"]:
        return CountResult([], [], [window_key(spec, s, entity_id) for spec, s in windows])
    counted, late, revised = [], [], []
    for spec, window_start in windows:
        name = window_key(spec, window_start, entity_id)
        end = window_start + spec.size
        if watermark is None or end > watermark:
            counted.append(name)
        elif end + spec.lateness > watermark:
            counted.append(name)
            revised.append(name)
        else:
            late.append(name)
    if not counted:
        return CountResult([], late, [])
    if pane is None:
        pane = {
            "entity_id": entity_id,
            "name": mention.get("name", entity_id),
            "type": mention.get("type", "MISC"),
            "window": PANE,
            "size": size,
            "start": start,
            "mentions": 0,
            "articles": [],
            "sources": [],
            "partition": partition,
        }
        if index is not None:
            index.add(key, pane)
    else:
        pane = dict(pane)
    pane["mentions"] = pane["mentions"] + int(mention["mentions"])
    pane["articles"] = [*pane["articles"], article]
    source = mention.get("source") or ""
    if source and source not in pane["sources"]:
        pane["sources"] = [*pane["sources"], source]
    store[key] = pane
    return CountResult(counted, late, [], revised)


def open_windows(panes: Iterable[dict], spec: WindowSpec) -> dict[tuple[int, str], dict]:
    """Every window of `spec` over these panes, summed: (start, entity id) -> counts.

    Articles are disjoint across panes (an article has one event time), so their
    counts add; sources are merged as sets.
    """
    sums: dict[tuple[int, str], dict] = {}
    sources: dict[tuple[int, str], set] = defaultdict(set)
    for pane in panes:
        for start in spec.starts(pane["start"]):
            slot = (start, pane["entity_id"])
            total = sums.get(slot)
            if total is None:
                total = sums[slot] = {
                    "entity_id": pane["entity_id"], "name": pane["name"], "type": pane["type"],
                    "window": spec.name, "size": spec.size, "start": start,
                    "mentions": 0, "articles": 0, "sources": 0, "partition": pane["partition"],
                }
            total["mentions"] += pane["mentions"]
            total["articles"] += len(pane["articles"])
            sources[slot].update(pane["sources"])
    for slot, total in sums.items():
        total["sources"] = len(sources[slot])
    return sums


def window_entries(store: Mapping[str, dict], spec: WindowSpec) -> list[dict]:
    """Counts of every window of `spec` in the store, closed and open alike."""
    closed = {}
    panes = []
    for entry in store.values():
        if entry["window"] == spec.name:
            closed[(entry["start"], entry["entity_id"])] = entry
        elif entry["window"] == PANE:
            panes.append(entry)
    still_open = [entry for slot, entry in open_windows(panes, spec).items() if slot not in closed]
    return [*closed.values(), *still_open]


def window_may_end(previous: float | None, watermark: float, specs: Iterable[WindowSpec]) -> bool:
    """Whether the watermark crossed a step boundary since `previous`: only then can a window end."""
    step = min(spec.step for spec in specs)
    return previous is None or watermark // step > previous // step


class WindowIndex:
    """Which keys of the window table hold which partition's panes and closed windows, by start.

    Closing, revising and dropping then read only the entries they concern,
    not the whole table: a backfill of weeks closes thousands of windows, and
    a table holding a month of closed windows is large. The table stays the
    truth: the index is rebuilt from it (`rebuild`) after the table is
    recovered, and a key it names that the table no longer has is skipped.
    """

    def __init__(self) -> None:
        self.panes: dict[int, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
        self.closed: dict[int, dict[str, dict[int, set[str]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(set)))
        self.ready: set[int] = set()

    def rebuild(self, store: Mapping[str, dict]) -> None:
        """Forget everything: each partition is indexed again from the table when next used."""
        self.panes.clear()
        self.closed.clear()
        self.ready.clear()

    def ensure(self, store: Mapping[str, dict], partition: int) -> None:
        """Index one partition from the table, once after each recovery, before it is counted or closed.

        Recovered entries reach the table without passing through here; reading
        the table when a partition is first used again is what finds them.
        """
        if partition in self.ready:
            return
        self.panes.pop(partition, None)
        self.closed.pop(partition, None)
        for key, entry in store.items():
            if entry.get("partition", 0) == partition:
                self.add(key, entry)
        self.ready.add(partition)

    def add(self, key: str, entry: dict) -> None:
        partition = entry.get("partition", 0)
        if entry["window"] == PROGRESS:
            return
        if entry["window"] == PANE:
            self.panes[partition][entry["start"]].add(key)
        else:
            self.closed[partition][entry["window"]][entry["start"]].add(key)

    def discard(self, key: str, entry: dict) -> None:
        partition = entry.get("partition", 0)
        if entry["window"] == PANE:
            slots = self.panes[partition]
        else:
            slots = self.closed[partition][entry["window"]]
        keys = slots.get(entry["start"])
        if keys is not None:
            keys.discard(key)
            if not keys:
                del slots[entry["start"]]


def advance_windows(
    store: MutableMapping[str, dict],
    specs: Iterable[WindowSpec],
    *,
    partition: int,
    previous: float | None,
    watermark: float,
    index: WindowIndex,
    revised: Iterable[str] = (),
) -> list[dict]:
    """Move a partition's watermark from `previous` to `watermark`; returns the records to publish.

    Every window ending in (previous, watermark] closes and is published
    (revision 0), scored against the entity's earlier windows; every closed
    window named in `revised` (late mentions counted since it closed) is
    published again with the next revision if its counts changed. Then panes
    past every window's lateness and closed windows past their retention are
    dropped.
    """
    specs = tuple(specs)
    by_name = {spec.name: spec for spec in specs}
    pane = pane_size(specs)
    due: dict[str, tuple[WindowSpec, int, str]] = {}
    pane_starts = sorted(index.panes[partition])
    for spec in specs:
        lowest = -math.inf if previous is None else previous - spec.size
        for start in pane_starts:
            if start >= watermark:
                break
            if start < lowest:
                continue
            for window_start in spec.starts(start):
                end = window_start + spec.size
                if end <= watermark and (previous is None or end > previous):
                    for key in index.panes[partition][start]:
                        entity_id = key.split("|", 2)[2]
                        due[window_key(spec, window_start, entity_id)] = (spec, window_start, entity_id)
    revised_only = set()
    for name in revised:
        spec_name, start_text, entity_id = name.split("|", 2)
        spec = by_name.get(spec_name)
        if spec is not None and name not in due:
            due[name] = (spec, int(start_text), entity_id)
            revised_only.add(name)
    published = []
    for name, (spec, start, entity_id) in sorted(due.items(), key=lambda item: (item[1][1], item[0])):
        counts = _sum_panes(store, spec, start, entity_id, pane)
        if counts is None:
            continue
        known = store.get(name)
        if known is None:
            revision = 0
        elif all(known[field] == counts[field] for field in ("mentions", "articles", "sources")):
            if name in revised_only:
                continue  # late mentions that were repeats: nothing to correct
            # Closing again what is already closed: a worker stopped after storing the window but
            # before its record was sent. Publishing it again (same revision) loses nothing.
            revision = known.get("revision", 0)
        else:
            revision = known.get("revision", 0) + 1
        entry = {**counts, "partition": partition, "closed": True, "revision": revision}
        if known is None:
            index.add(name, entry)
        store[name] = entry
        past = {start - spec.size * i: _articles(store.get(window_key(spec, start - spec.size * i, entity_id)))
                for i in range(1, BASELINE_WINDOWS + 1)}
        baseline, score = baseline_and_score(entry["articles"], past, start, spec.size)
        published.append(_record(entry, baseline, score))
    _drop_expired(store, specs, partition, watermark, index)
    return published


def _articles(entry: dict | None) -> int:
    return 0 if entry is None else entry["articles"]


def _sum_panes(store: Mapping[str, dict], spec: WindowSpec, start: int, entity_id: str, pane: int) -> dict | None:
    """One window's counts, summed from its panes (articles are disjoint across panes)."""
    total = None
    sources: set[str] = set()
    for pane_start in range(start, start + spec.size, pane):
        entry = store.get(pane_key(pane_start, entity_id))
        if entry is None:
            continue
        if total is None:
            total = {"entity_id": entity_id, "name": entry["name"], "type": entry["type"], "window": spec.name,
                     "size": spec.size, "start": start, "mentions": 0, "articles": 0, "sources": 0}
        total["mentions"] += entry["mentions"]
        total["articles"] += len(entry["articles"])
        sources.update(entry["sources"])
    if total is not None:
        total["sources"] = len(sources)
    return total


def _record(entry: dict, baseline: float, score: float) -> dict:
    end = entry["start"] + entry["size"]
    return {
        "schema": TRENDING_SCHEMA,
        "window": entry["window"],
        "start": iso(entry["start"]),
        "end": iso(end),
        "start_ts": entry["start"],
        "end_ts": end,
        "revision": entry["revision"],
        "entity_id": entry["entity_id"],
        "name": entry["name"],
        "type": entry["type"],
        "mentions": entry["mentions"],
        "articles": entry["articles"],
        "sources": entry["sources"],
        "baseline": baseline,
        "score": score,
    }


def _drop_expired(store: MutableMapping[str, dict], specs: tuple[WindowSpec, ...], partition: int,
                  watermark: float, index: WindowIndex) -> None:
    """Panes no window can take late mentions for any more; closed windows past their retention."""
    panes = index.panes[partition]
    for start in sorted(panes):
        if pane_expiry(start, specs) > watermark:
            break
        for key in list(panes[start]):
            entry = store.get(key)
            if entry is not None:
                del store[key]
            index.discard(key, {"window": PANE, "start": start, "partition": partition})
    last_pane = pane_size(specs)
    for spec in specs:
        closed = index.closed[partition][spec.name]
        for start in sorted(closed):
            end = start + spec.size
            # Never before its panes are gone: the panes would show it as an open window again.
            if max(end + spec.keep, pane_expiry(end - last_pane, specs)) > watermark:
                break
            for key in list(closed[start]):
                if key in store:
                    del store[key]
                index.discard(key, {"window": spec.name, "start": start, "partition": partition})


def pane_expiry(pane_start: int, specs: tuple[WindowSpec, ...]) -> int:
    """When the last window over a pane is past its lateness: after that nothing reads the pane."""
    return max(spec.last_start(pane_start) + spec.size + spec.lateness for spec in specs)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")


def brute_force_counts(mentions: Iterable[dict], specs: Iterable[WindowSpec]) -> dict[str, dict]:
    """The reference answer: count everything from scratch, once per article."""
    mentions_by_key: dict[str, int] = defaultdict(int)
    articles: dict[str, set] = defaultdict(set)
    specs = list(specs)
    for mention in mentions:
        for spec in specs:
            for start in spec.starts(float(mention["event_ts"])):
                key = window_key(spec, start, mention["entity_id"])
                if mention["article_id"] in articles[key]:
                    continue
                articles[key].add(mention["article_id"])
                mentions_by_key[key] += int(mention["mentions"])
    return {key: {"mentions": mentions_by_key[key], "articles": len(articles[key])} for key in mentions_by_key}
